"""The tenant and its users. Changes to a user are audited with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.models import Tenant, User
from hub.domain.identity import Principal
from hub.domain.permissions import Permission, Role

router = APIRouter(prefix="/v1", tags=["users"])

CanReadUsers = Annotated[Principal, Depends(require(Permission.USERS_READ))]
CanManageUsers = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
CanReadTenant = Annotated[Principal, Depends(require(Permission.TENANT_READ))]


class UserPublic(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    role: Role
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=Role(user.role),
            disabled=user.disabled,
            created_at=user.created_at,
        )


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=2, max_length=64)]
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    role: Role
    email: Annotated[str | None, Field(max_length=320)] = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]
    role: Role | None = None
    disabled: bool | None = None
    display_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class TenantPublic(BaseModel):
    id: str
    slug: str
    name: str
    created_at: datetime


@router.get("/tenant")
async def current_tenant(principal: CanReadTenant, session: ReadSessionDep) -> TenantPublic:
    tenant = (await session.execute(select(Tenant).where(Tenant.id == principal.tenant_id))).scalar_one()
    return TenantPublic(id=tenant.id, slug=tenant.slug, name=tenant.name, created_at=tenant.created_at)


@router.get("/users")
async def list_users(
    principal: CanReadUsers,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UserPublic]:
    rows = await session.execute(
        select(User).where(User.tenant_id == principal.tenant_id).order_by(User.username).limit(limit).offset(offset)
    )
    return [UserPublic.of(u) for u in rows.scalars()]


@router.post("/users", status_code=201)
async def create_user(body: UserCreate, principal: CanManageUsers, state: StateDep, session: SessionDep) -> UserPublic:
    user = await state.identity.create_user(
        session,
        tenant_id=principal.tenant_id,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        role=body.role,
        actor=principal.label,
        email=body.email,
    )
    return UserPublic.of(user)


@router.get("/users/{user_id}")
async def get_user(
    user_id: Annotated[str, Field(max_length=64)], principal: CanReadUsers, state: StateDep, session: ReadSessionDep
) -> UserPublic:
    return UserPublic.of(await state.identity.get_user(session, principal.tenant_id, user_id))


@router.patch("/users/{user_id}")
async def update_user(
    user_id: Annotated[str, Field(max_length=64)],
    body: UserUpdate,
    principal: CanManageUsers,
    state: StateDep,
    session: SessionDep,
) -> UserPublic:
    user = await state.identity.update_user(
        session,
        tenant_id=principal.tenant_id,
        user_id=user_id,
        actor=principal,
        reason=body.reason,
        role=body.role,
        disabled=body.disabled,
        display_name=body.display_name,
    )
    return UserPublic.of(user)
