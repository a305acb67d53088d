"""``tracseq hub …``: serve the API, run the workers, migrate the database, create tenants and admins."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from hub.sagas.cli import register as register_sagas
from hub.settings import HubSettings

app = typer.Typer(
    help="The hub: API, workers and database. Settings come from TRACSEQ_HUB_* variables.", no_args_is_help=True
)


def _settings() -> HubSettings:
    try:
        return HubSettings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (needs Redis when more than one)")] = 1,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate chain (PEM); serve HTTPS")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM) of --ssl-certfile")] = None,
) -> None:
    """Serve the API (uvicorn), over HTTPS when given a certificate and key."""
    import uvicorn

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        typer.echo("error: several API processes need TRACSEQ_HUB_REDIS_URL (shared events and rate limits)", err=True)
        raise typer.Exit(2)
    if (ssl_certfile is None) != (ssl_keyfile is None):
        typer.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        raise typer.Exit(2)
    if settings.environment == "production" and ssl_certfile is None and not settings.behind_proxy:
        typer.echo(
            "error: refusing to serve plain HTTP in production: pass --ssl-certfile and --ssl-keyfile, or set "
            "TRACSEQ_HUB_BEHIND_PROXY=true when a reverse proxy in front of the hub terminates TLS",
            err=True,
        )
        raise typer.Exit(2)
    uvicorn.run(
        "hub.api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        factory=False,
        log_config=None,
        log_level="warning",
        proxy_headers=True,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


@app.command("migrate")
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Bring the database schema to the latest revision (Alembic)."""
    from hub.migrations import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@app.command("worker")
def worker() -> None:
    """Run the background workers: the outbox relay and the event subscribers, until SIGTERM."""
    from hub.worker import run_worker

    asyncio.run(run_worker(_settings()))


@app.command("create-tenant")
def create_tenant(
    slug: Annotated[str, typer.Argument(help="Short name, e.g. genomics-core")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
) -> None:
    """Create a tenant (a lab or institution)."""
    from hub.api.app import build_state

    async def run() -> str:
        state = build_state(_settings())
        try:
            async with state.db.transaction() as session:
                tenant = await state.identity.create_tenant(session, slug, name or slug, actor="cli")
                return tenant.id
        finally:
            await state.db.dispose()

    typer.echo(f"tenant {slug} created ({asyncio.run(run())})")


@app.command("create-admin")
def create_admin(
    tenant: Annotated[str, typer.Argument(help="Tenant slug")],
    username: Annotated[str, typer.Argument(help="User name")],
    display_name: Annotated[str, typer.Option(help="Printed name (used on electronic signatures)")] = "",
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this environment variable instead of a prompt")
    ] = None,
) -> None:
    """Create an admin user in a tenant."""
    from hub.api.app import build_state
    from hub.domain.permissions import Role
    from hub.errors import HubError

    password = os.environ.get(password_env, "") if password_env else getpass.getpass("password: ")

    async def run() -> None:
        state = build_state(_settings())
        try:
            async with state.db.transaction() as session:
                found = await state.identity.tenant_by_slug(session, tenant)
                await state.identity.create_user(
                    session,
                    tenant_id=found.id,
                    username=username,
                    display_name=display_name or username,
                    password=password,
                    role=Role.ADMIN,
                    actor="cli",
                )
        finally:
            await state.db.dispose()

    try:
        asyncio.run(run())
    except HubError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"admin {username} created in {tenant}")


register_sagas(app)  # tracseq hub sagas list|show|retry|abort


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="hub")
