"""Dependencies that make route signatures read as types: the session, the caller, the permission it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.state import HubState
from hub.domain.devices import DEVICE_TOKEN_PREFIX
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import AuthenticationError, RateLimitedError

_bearer = HTTPBearer(auto_error=False)


def get_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


StateDep = Annotated[HubState, Depends(get_state)]


async def write_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.db.transaction() as session:
        yield session


async def read_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.db.read() as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a 2xx means it is on disk
SessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session)]


async def current_principal(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("sign in first: send 'Authorization: Bearer <access token>'")
    if credentials.credentials.startswith(DEVICE_TOKEN_PREFIX):
        async with state.db.read() as session:
            principal = await state.devices.authenticate(session, credentials.credentials)
    else:
        principal = state.identity.principal_from_token(credentials.credentials)
    settings = state.settings
    limit = settings.rate_user_per_min if principal.kind == "user" else settings.rate_device_per_min
    for key, allowed in (
        (f"{principal.kind}:{principal.id}", limit),
        (f"tenant:{principal.tenant_id}", settings.rate_tenant_per_min),
    ):
        retry = await state.limiter.hit(key, allowed)
        if retry is not None:
            raise RateLimitedError(f"rate limit for {key.split(':')[0]} reached ({allowed} per minute)", retry)
    async with state.db.read() as session:
        await state.identity.still_active(session, principal)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the caller through only with ``permission``."""

    async def check(principal: PrincipalDep) -> Principal:
        principal.require(permission)
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    return check


def allowed(permission: Permission) -> type[Principal]:
    return Annotated[Principal, Depends(require(permission))]  # type: ignore[return-value]
