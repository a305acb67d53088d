"""The hub's settings: one pydantic-settings class, read from ``TRACSEQ_HUB_*`` environment variables.

Built in ``main``/``create_app`` and passed down; nothing reads the environment at import time. Outside
development a placeholder secret refuses to start the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "development-only-secret-never-use-in-production"}
DEV_SECRET = "development-only-secret-never-use-in-production"  # noqa: S105 - refused outside development


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACSEQ_HUB_", extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    name: str = Field(default="hub", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    database_url: str = "sqlite+aiosqlite:///./var/hub/hub.db"
    behind_proxy: bool = Field(
        default=False, description="TLS ends at a reverse proxy in front of the hub (production serves TLS or this)"
    )
    redis_url: str | None = Field(default=None, description="Redis for events and rate limits; None: in-process")
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_issuer: str = "tracseq-hub"
    access_token_ttl_s: int = Field(default=900, gt=0, le=3600)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, gt=0)
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    max_upload_bytes: int = Field(default=32 << 20, gt=0, description="file uploads: sheets, documents")
    lockout_threshold: int = Field(default=5, gt=0)
    lockout_s: int = Field(default=900, gt=0)
    rate_user_per_min: int = Field(default=600, gt=0)
    rate_device_per_min: int = Field(default=1200, gt=0)
    rate_tenant_per_min: int = Field(default=6000, gt=0)
    audit_key_file: Path = Path("./var/hub/audit.key")
    audit_checkpoint_every: int = Field(default=100, gt=0)
    witness_key_file: Path = Path("./var/hub/witness.key")
    ingest_concurrency: int = Field(default=4, gt=0, le=64)
    events_stream: str = "tracseq:events"
    log_level: str = "INFO"
    smtp_host: str | None = Field(default=None, description="SMTP relay for e-mail channels that name none")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    sms_api_url: str | None = Field(default=None, description="SMS provider API for SMS channels that name none")
    notify_poll_interval_s: float = Field(default=0.1, gt=0, le=5)
    notify_in_process: bool = Field(default=True, description="deliver notifications in the API process (embedded)")
    sagas_in_process: bool = Field(default=True, description="run the saga runner in the API process (embedded)")
    alerts_in_process: bool = Field(default=True, description="run the alert engine in the API process (embedded)")
    alerts_mqtt_url: str | None = Field(default=None, description="mqtt://host:1883 for retained alert state")
    alerts_tick_s: float = Field(default=0.2, gt=0, le=0.2)
    alerts_scan_s: float = Field(default=1.0, gt=0, le=60)
    alerts_webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    alerts_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    alerts_webhook_backoff_s: float = Field(default=2.0, gt=0, le=3600)
    alerts_door_hold_s: int = Field(default=300, ge=0)
    alerts_door_longest_s: int = Field(default=1800, gt=0)
    alerts_defrost_hold_s: int = Field(default=900, ge=0)
    alerts_defrost_longest_s: int = Field(default=7200, gt=0)
    alerts_flap_threshold: int = Field(default=6, ge=2)
    alerts_flap_window_s: int = Field(default=1800, gt=0)
    ai_ranker: Literal["lexical", "hybrid"] = "lexical"
    ai_abstain_below: float = Field(default=0.5, ge=0, le=1, description="answers below this confidence: not found")
    ai_provider: Literal["openai", "anthropic", "ollama"] | None = Field(default=None, description="None: offline")
    ai_provider_url: str | None = None
    ai_provider_model: str | None = None
    ai_provider_key: SecretStr | None = None
    ai_provider_timeout_s: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> HubSettings:
        if self.environment != "development":
            secret = self.jwt_secret.get_secret_value()
            if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
                raise ValueError(
                    "TRACSEQ_HUB_JWT_SECRET must be set to a random secret of at least 32 characters outside "
                    "development (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
