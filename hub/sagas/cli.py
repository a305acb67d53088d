"""``tracseq hub sagas …``: list, show, retry and abort sagas; run the saga runner alone, or with the API in one
process (the embedded hub, and the crash harness's process to kill)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import select

from hub.settings import HubSettings

app = typer.Typer(help="Sagas: the lab's workflows that span modules.", no_args_is_help=True)


def _settings() -> HubSettings:
    try:
        return HubSettings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc


Tenant = Annotated[str, typer.Option(help="the tenant's slug")]


@app.command("list")
def list_sagas(
    tenant: Tenant,
    state: Annotated[list[str] | None, typer.Option(help="only these states (repeat)")] = None,
    limit: Annotated[int, typer.Option(help="at most")] = 50,
) -> None:
    """Sagas of a tenant, newest first: id, type, state, step, error."""
    from hub.api.app import build_state
    from hub.sagas.book import SagaBook

    async def run() -> None:
        hub = build_state(_settings())
        try:
            async with hub.db.read() as session:
                tenant_id = await _tenant_id(session, tenant)
                for saga in await SagaBook(hub.audit).list(session, tenant_id, states=state or (), limit=limit):
                    typer.echo(
                        f"{saga.id}  {saga.type:<22} {saga.state:<20} step {saga.current_step}  {saga.error or ''}"
                    )
        finally:
            await hub.db.dispose()

    asyncio.run(run())


@app.command("show")
def show(tenant: Tenant, saga_id: Annotated[str, typer.Argument(help="the saga")]) -> None:
    """One saga with its steps and history, as JSON."""
    from hub.api.app import build_state
    from hub.api.routes.sagas import SagaPublic
    from hub.sagas.book import SagaBook

    async def run() -> None:
        hub = build_state(_settings())
        try:
            async with hub.db.read() as session:
                view = await SagaBook(hub.audit).view(session, await _tenant_id(session, tenant), saga_id)
                typer.echo(
                    json.dumps(SagaPublic.of(view.saga, view.steps, view.history).model_dump(mode="json"), indent=2)
                )
        finally:
            await hub.db.dispose()

    _exit_on_error(run)


@app.command("retry")
def retry(
    tenant: Tenant,
    saga_id: Annotated[str, typer.Argument(help="the failed saga")],
    admin: Annotated[str, typer.Option(help="the admin's user name (kept in the audit trail)")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")],
) -> None:
    """Resume a failed saga (or its failed compensation) with fresh attempts."""
    _admin_call(tenant, admin, lambda book, s, p: book.retry(s, p, saga_id, reason=reason))


@app.command("abort")
def abort(
    tenant: Tenant,
    saga_id: Annotated[str, typer.Argument(help="the saga")],
    admin: Annotated[str, typer.Option(help="the admin's user name (kept in the audit trail)")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")],
) -> None:
    """Stop a saga before its pivot: what it did is compensated."""
    _admin_call(tenant, admin, lambda book, s, p: book.abort(s, p, saga_id, reason=reason))


@app.command("run")
def run_runner(
    lease_s: Annotated[float, typer.Option(help="lease of a claimed saga")] = 60.0,
    concurrency: Annotated[int, typer.Option(help="sagas advanced at once")] = 8,
    poll_s: Annotated[float, typer.Option(help="idle poll interval")] = 0.5,
) -> None:
    """Run the saga runner alone until SIGTERM (recovery first)."""
    from hub.sagas.process import run_runner_only

    asyncio.run(run_runner_only(_settings(), lease_s=lease_s, concurrency=concurrency, poll_s=poll_s))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    lease_s: Annotated[float, typer.Option(help="lease of a claimed saga")] = 60.0,
    poll_s: Annotated[float, typer.Option(help="idle poll interval")] = 0.5,
    runner: Annotated[bool, typer.Option(help="run the saga runner (--no-runner: the API alone)")] = True,
) -> None:
    """The API and the saga runner in one process (what ``tracseq hub serve`` does once the runner is wired in)."""
    from hub.sagas.process import serve_with_runner

    asyncio.run(serve_with_runner(_settings(), host=host, port=port, lease_s=lease_s, poll_s=poll_s, runner=runner))


def _exit_on_error(run: object) -> None:
    from hub.errors import HubError

    try:
        asyncio.run(run())  # type: ignore[operator]
    except HubError as exc:
        typer.echo(f"FAIL: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def _tenant_id(session: object, slug: str) -> str:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.db.models import Tenant as TenantRow
    from hub.errors import NotFoundError

    assert isinstance(session, AsyncSession)  # noqa: S101 - narrowing for mypy; callers pass a session
    found = (await session.execute(select(TenantRow.id).where(TenantRow.slug == slug))).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no tenant {slug}")
    return str(found)


def _admin_call(tenant: str, admin: str, call: object) -> None:
    from hub.api.app import build_state
    from hub.db.models import User
    from hub.domain.identity import Principal
    from hub.domain.permissions import Permission, Role
    from hub.errors import NotFoundError
    from hub.sagas.book import SagaBook

    async def run() -> None:
        hub = build_state(_settings())
        try:
            async with hub.db.transaction() as session:
                tenant_id = await _tenant_id(session, tenant)
                user = (
                    await session.execute(select(User).where(User.tenant_id == tenant_id, User.username == admin))
                ).scalar_one_or_none()
                if user is None or user.disabled:
                    raise NotFoundError(f"no active user {admin} in {tenant}")
                principal = Principal("user", user.id, tenant_id, user.username, Role(user.role))
                principal.require(Permission.USERS_MANAGE)
                saga = await call(SagaBook(hub.audit), session, principal)  # type: ignore[operator]
                typer.echo(f"OK: saga {saga.id} is {saga.state}")
        finally:
            await hub.db.dispose()

    _exit_on_error(run)


def register(root: typer.Typer) -> None:
    """Add ``sagas`` under ``root`` (``tracseq hub``)."""
    root.add_typer(app, name="sagas")
