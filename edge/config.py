"""The edge's configuration file (TOML or YAML), validated at start-up.

A bad file stops the agent with the file, the field and what is wrong, e.g.
``edge.toml: devices[0].connection.port: Input should be less than or equal to 65535``.
Each device names its ``driver``; the fields beyond the common ones are that driver's settings model.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.alarms import ChannelAlarms, DeviceAlarms, DoorRule
from edge.errors import ConfigError
from protocol.models import Identifier

# driver kind -> (module, settings model, factory); imported only when a device uses it
DRIVER_KINDS: dict[str, tuple[str, str]] = {
    "modbus": ("drivers.modbus", "ModbusDeviceSettings"),
    "serial": ("drivers.serial", "SerialDeviceSettings"),
    "mqtt": ("drivers.mqtt", "MqttDeviceSettings"),
    "runfolder": ("drivers.runfolder", "RunFolderDeviceSettings"),
}
_COMMON = {"id", "driver", "poll_interval_s", "timeout_s", "alarms", "door", "gap_report_s"}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EdgeSection(_Strict):
    id: Identifier
    origin: str | None = Field(default=None, description="log origin; default tracseq.local/edge/<id>")
    data_dir: Path
    key_file: Path = Path("edge.key")
    key_passphrase_env: str | None = None
    checkpoint_interval_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    flush_interval_s: Annotated[float, Field(gt=0, le=10)] = 0.2
    disk_budget_mb: Annotated[int, Field(gt=0)] = 1024
    samplesheet_dir: Path | None = Field(
        default=None, description="where sample sheets the hub sends are written (the sequencer's sheet folder)"
    )
    disk_warn_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.8
    status_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    retention_days: Annotated[float, Field(gt=0)] = Field(
        default=30.0, description="entries the hub cosigned are deleted after this long; nothing else ever is"
    )

    @property
    def log_origin(self) -> str:
        return self.origin or f"tracseq.local/edge/{self.id}"

    @property
    def key_path(self) -> Path:
        return self.key_file if self.key_file.is_absolute() else self.data_dir / self.key_file

    @property
    def db_path(self) -> Path:
        return self.data_dir / "log.db"

    @property
    def status_path(self) -> Path:
        return self.data_dir / "status.json"

    @property
    def commands_dir(self) -> Path:
        return self.data_dir / "commands"


class DeviceConfig(BaseModel):
    """The settings every device has, whatever its driver; the rest of its table is the driver's."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: Identifier
    driver: str
    poll_interval_s: Annotated[float, Field(gt=0, le=86400)] = 1.0
    timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None
    gap_report_s: Annotated[float, Field(gt=0)] = 60.0
    alarms: dict[str, ChannelAlarms] = Field(default_factory=dict)
    door: DoorRule | None = None

    @model_validator(mode="after")
    def _known_driver(self) -> DeviceConfig:
        if self.driver not in DRIVER_KINDS:
            raise ValueError(f"unknown driver {self.driver!r}; known: {', '.join(sorted(DRIVER_KINDS))}")
        return self

    @property
    def poll_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else max(1.0, min(self.poll_interval_s, 10.0))

    def alarm_rules(self) -> DeviceAlarms:
        return DeviceAlarms(channels=dict(self.alarms), door=self.door)


@dataclass(frozen=True)
class Device:
    config: DeviceConfig
    settings: BaseModel  # the driver's own settings model


class EdgeConfig(_Strict):
    edge: EdgeSection
    devices: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Config:
    path: Path
    edge: EdgeSection
    devices: tuple[Device, ...]


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _format(path: Path, exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> str:
    lines = [f"{path}: {_where(prefix + tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
    return "\n".join(lines)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from exc
    try:
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a table/mapping at the top level")
    return data


def driver_settings_model(kind: str) -> type[BaseModel]:
    module_name, model_name = DRIVER_KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"driver {kind!r} needs packages that are not installed ({exc.name}); "
            "install them with: pip install 'tracseq[edge]'"
        ) from exc
    model: type[BaseModel] = getattr(module, model_name)
    return model


def load_config(path: Path) -> Config:
    data = _read(path)
    try:
        parsed = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(path, exc)) from exc
    edge = parsed.edge
    if not edge.data_dir.is_absolute():
        edge = edge.model_copy(update={"data_dir": (path.parent / edge.data_dir).resolve()})
    devices: list[Device] = []
    seen: set[str] = set()
    for index, raw in enumerate(parsed.devices):
        where: tuple[int | str, ...] = ("devices", index)
        try:
            common = DeviceConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_format(path, exc, where)) from exc
        if common.id in seen:
            raise ConfigError(f"{path}: {_where((*where, 'id'))}: device id {common.id!r} is used twice")
        seen.add(common.id)
        model = driver_settings_model(common.driver)
        specific = {k: v for k, v in raw.items() if k not in _COMMON or k == "driver"}
        try:
            settings = model.model_validate(specific)
            common.alarm_rules()
        except ValidationError as exc:
            raise ConfigError(_format(path, exc, where)) from exc
        devices.append(Device(common, settings))
    return Config(path=path, edge=edge, devices=tuple(devices))
