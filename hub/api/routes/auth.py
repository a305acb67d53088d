"""Sign-in, token refresh with rotation, sign-out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import PrincipalDep, SessionDep, StateDep

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Annotated[str, Field(min_length=1, max_length=63)]
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class Me(BaseModel):
    kind: str
    id: str
    tenant_id: str
    name: str
    role: str | None
    permissions: list[str]


@router.post("/login")
async def login(body: LoginRequest, state: StateDep, session: SessionDep) -> TokenResponse:
    pair = await state.identity.login(session, body.tenant, body.username, body.password)
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/refresh")
async def refresh(body: RefreshRequest, state: StateDep, session: SessionDep) -> TokenResponse:
    pair = await state.identity.refresh(session, body.refresh_token)
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/logout", status_code=204)
async def logout(body: RefreshRequest, state: StateDep, session: SessionDep) -> None:
    await state.identity.logout(session, body.refresh_token)


me_router = APIRouter(prefix="/v1", tags=["auth"])


@me_router.get("/me")
async def me(principal: PrincipalDep) -> Me:
    from hub.domain.permissions import MATRIX

    permissions = sorted(p.value for p in MATRIX[principal.role]) if principal.role else []
    return Me(
        kind=principal.kind,
        id=principal.id,
        tenant_id=principal.tenant_id,
        name=principal.name,
        role=principal.role.value if principal.role else None,
        permissions=permissions,
    )
