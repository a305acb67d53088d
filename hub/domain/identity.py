"""People and devices: tenants, users with argon2 passwords and lockout, JWT access tokens and rotating refresh
tokens with reuse detection. No FastAPI here: routes translate HTTP to these calls."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.models import RefreshToken, Tenant, User
from hub.domain.permissions import Permission, Role, allows
from hub.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationFailedError,
)
from hub.events.outbox import record_event
from hub.settings import HubSettings

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password anyone has")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (with a role) or an edge device. Every query is scoped to ``tenant_id``."""

    kind: Literal["user", "device"]
    id: str
    tenant_id: str
    name: str
    role: Role | None = None
    session_id: str | None = None  # the sign-in (refresh-token family) a user's access token belongs to

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def can(self, permission: Permission) -> bool:
        if self.kind == "device":
            return permission == Permission.DEVICE_SYNC
        return self.role is not None and allows(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise ForbiddenError(f"your role ({self.role or self.kind}) does not allow {permission.value}")


def check_password_rules(password: str, username: str) -> None:
    problems = []
    if len(password) < 12:
        problems.append("at least 12 characters")
    if len(password) > 256:
        problems.append("at most 256 characters")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 3:
        problems.append("three of: lower case, upper case, digits, symbols")
    if username and username.lower() in password.lower():
        problems.append("not containing the user name")
    if problems:
        raise ValidationFailedError("the password needs " + "; ".join(problems))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def _check_password(stored: str, password: str) -> bool:
    """argon2 takes a few hundred milliseconds of CPU by design: in a thread, so the event loop keeps serving."""
    return await asyncio.to_thread(_verify_password, stored, password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class Identity:
    def __init__(self, settings: HubSettings, audit: AuditTrail) -> None:
        self.settings = settings
        self.audit = audit

    # -- tenants and users ------------------------------------------------------------------------------------

    async def create_tenant(self, session: AsyncSession, slug: str, name: str, actor: str) -> Tenant:
        if not _SLUG.fullmatch(slug):
            raise ValidationFailedError("a tenant slug is 2-63 lower-case letters, digits and dashes")
        if (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none():
            raise ConflictError(f"tenant {slug!r} exists")
        tenant = Tenant(id=new_id(), slug=slug, name=name)
        session.add(tenant)
        await session.flush()
        await self.audit.record(
            session,
            tenant_id=tenant.id,
            actor=actor,
            action="create",
            record_type="tenant",
            record_id=tenant.id,
            new={"slug": slug, "name": name},
        )
        record_event(
            session,
            tenant_id=tenant.id,
            type="tenant.created",
            subject_type="tenant",
            subject_id=tenant.id,
            actor=actor,
            payload={"slug": slug, "name": name},
        )
        return tenant

    async def tenant_by_slug(self, session: AsyncSession, slug: str) -> Tenant:
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
        if tenant is None:
            raise NotFoundError(f"no tenant {slug!r}")
        return tenant

    async def create_user(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        username: str,
        display_name: str,
        password: str,
        role: Role,
        actor: str,
        email: str | None = None,
    ) -> User:
        if not _USERNAME.fullmatch(username):
            raise ValidationFailedError("a user name is 2-64 lower-case letters, digits, dots, dashes or underscores")
        check_password_rules(password, username)
        exists = await session.execute(select(User.id).where(User.tenant_id == tenant_id, User.username == username))
        if exists.scalar_one_or_none():
            raise ConflictError(f"user {username!r} exists in this tenant")
        password_hash = await asyncio.to_thread(hash_password, password)
        user = User(
            id=new_id(),
            tenant_id=tenant_id,
            username=username,
            display_name=display_name,
            email=email,
            password_hash=password_hash,
            role=role.value,
        )
        session.add(user)
        await session.flush()
        facts = {"username": username, "display_name": display_name, "role": role.value, "email": email}
        await self.audit.record(
            session, tenant_id=tenant_id, actor=actor, action="create", record_type="user", record_id=user.id, new=facts
        )
        record_event(
            session,
            tenant_id=tenant_id,
            type="user.created",
            subject_type="user",
            subject_id=user.id,
            actor=actor,
            payload=facts,
        )
        return user

    async def get_user(self, session: AsyncSession, tenant_id: str, user_id: str) -> User:
        user = (
            await session.execute(select(User).where(User.tenant_id == tenant_id, User.id == user_id))
        ).scalar_one_or_none()
        if user is None:
            raise NotFoundError(f"no user {user_id}")
        return user

    async def update_user(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        user_id: str,
        actor: Principal,
        reason: str,
        role: Role | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
    ) -> User:
        user = await self.get_user(session, tenant_id, user_id)
        old = {"role": user.role, "disabled": user.disabled, "display_name": user.display_name}
        if user.id == actor.id and (role not in (None, Role(user.role)) or disabled):
            raise ForbiddenError("you cannot change your own role or disable yourself")
        if role is not None:
            user.role = role.value
        if display_name is not None:
            user.display_name = display_name
        if disabled is not None:
            user.disabled = disabled
        new = {"role": user.role, "disabled": user.disabled, "display_name": user.display_name}
        if new == old:
            return user
        action = "disable" if disabled else ("role_change" if old["role"] != new["role"] else "update")
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor.label,
            action=action,
            record_type="user",
            record_id=user.id,
            reason=reason,
            old=old,
            new=new,
        )
        record_event(
            session,
            tenant_id=tenant_id,
            type="user.updated",
            subject_type="user",
            subject_id=user.id,
            actor=actor.label,
            payload={"old": old, "new": new, "reason": reason},
        )
        if user.disabled or old["role"] != new["role"]:
            await self._revoke_all(session, user.id)
        return user

    # -- authentication --------------------------------------------------------------------------------------

    async def login(self, session: AsyncSession, tenant_slug: str, username: str, password: str) -> TokenPair:
        """Check a password with lockout; the same error for every failure, and the same work for unknown users."""
        failure = "wrong tenant, user name or password"
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == tenant_slug))).scalar_one_or_none()
        user = None
        if tenant is not None:
            # the row lock makes concurrent failures count one by one (no lost update of failed_logins)
            user = (
                await session.execute(
                    select(User).where(User.tenant_id == tenant.id, User.username == username).with_for_update()
                )
            ).scalar_one_or_none()
        if user is None or tenant is None:
            await _check_password(_DUMMY_HASH, password)
            raise AuthenticationError(failure)
        now = utcnow()
        if user.locked_until is not None and user.locked_until > now:
            # the same answer and the same work as an unknown user: a distinct "locked" answer would tell a guesser
            # which user names exist (and the password is not checked, so guessing gains nothing while locked)
            await _check_password(_DUMMY_HASH, password)
            raise AuthenticationError(failure)
        if not await _check_password(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= self.settings.lockout_threshold:
                user.locked_until = now + timedelta(seconds=self.settings.lockout_s)
                user.failed_logins = 0
                await self.audit.record(
                    session,
                    tenant_id=tenant.id,
                    actor="system",
                    action="lock",
                    record_type="user",
                    record_id=user.id,
                    new={"locked_until": user.locked_until},
                )
            raise AuthenticationError(failure, keep_changes=True)
        if user.disabled:
            raise AuthenticationError(failure)
        user.failed_logins = 0
        user.locked_until = None
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(hash_password, password)
        return await self._issue(session, user, family=new_id())

    async def verify_password(self, session: AsyncSession, principal: Principal, password: str) -> User:
        """Re-entry of the password for an electronic signature."""
        user = await self.get_user(session, principal.tenant_id, principal.id)
        if user.disabled or not await _check_password(user.password_hash, password):
            raise AuthenticationError("the password is not correct")
        return user

    async def _issue(self, session: AsyncSession, user: User, family: str) -> TokenPair:
        now = utcnow()
        claims = {"sub": user.id, "tid": user.tenant_id, "role": user.role, "name": user.username, "typ": "user"}
        access = self.access_token({**claims, "sid": family}, now)
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                id=new_id(),
                tenant_id=user.tenant_id,
                user_id=user.id,
                family_id=family,
                token_hash=_token_hash(refresh),
                issued_at=now,
                expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_s),
            )
        )
        return TokenPair(access, refresh, self.settings.access_token_ttl_s)

    def access_token(self, claims: dict[str, Any], now: datetime) -> str:
        payload = {
            **claims,
            "iss": self.settings.jwt_issuer,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.settings.access_token_ttl_s,
            "jti": new_id(),
        }
        return jwt.encode(payload, self.settings.jwt_secret.get_secret_value(), algorithm="HS256")

    async def refresh(self, session: AsyncSession, token: str) -> TokenPair:
        now = utcnow()
        # locked: of two concurrent uses of one token, the second sees the first and counts as reuse
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise AuthenticationError("unknown refresh token")
        if row.revoked_at is not None:
            raise AuthenticationError("this refresh token was revoked; sign in again")
        if row.used_at is not None:
            await self._revoke_family(session, row.family_id)
            await self.audit.record(
                session,
                tenant_id=row.tenant_id,
                actor="system",
                action="token_reuse",
                record_type="user",
                record_id=row.user_id,
                new={"family": row.family_id, "detail": "a spent refresh token was reused"},
            )
            raise AuthenticationError(
                "this refresh token was already used; every session of this sign-in is revoked", keep_changes=True
            )
        if row.expires_at <= now:
            raise AuthenticationError("the refresh token expired; sign in again")
        user = await session.get(User, row.user_id)
        if user is None or user.disabled:
            raise AuthenticationError("the account is disabled")
        row.used_at = now
        return await self._issue(session, user, family=row.family_id)

    async def logout(self, session: AsyncSession, token: str) -> None:
        row = (
            await session.execute(select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)))
        ).scalar_one_or_none()
        if row is not None:
            await self._revoke_family(session, row.family_id)

    async def _revoke_family(self, session: AsyncSession, family: str) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def _revoke_all(self, session: AsyncSession, user_id: str) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def principal_from_token(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.settings.jwt_secret.get_secret_value(),
                algorithms=["HS256"],
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "tid", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the access token expired; refresh it") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the access token is not valid") from exc
        kind = claims["typ"]
        if kind == "user":
            try:
                role = Role(str(claims.get("role")))
            except ValueError as exc:
                raise AuthenticationError("the access token names no valid role") from exc
            sid = claims.get("sid")
            return Principal(
                "user",
                str(claims["sub"]),
                str(claims["tid"]),
                str(claims.get("name", "")),
                role,
                session_id=str(sid) if sid is not None else None,
            )
        if kind == "device":
            return Principal("device", str(claims["sub"]), str(claims["tid"]), str(claims.get("name", "")))
        raise AuthenticationError("the access token is of an unknown type")

    async def still_active(self, session: AsyncSession, principal: Principal) -> None:
        """A disabled user, a changed role or a signed-out session takes effect at once, not when the access token
        expires. The user is looked up in the token's tenant, so a token naming another tenant grants nothing."""
        if principal.kind != "user":
            return
        row = (
            await session.execute(
                select(User.disabled, User.role).where(User.id == principal.id, User.tenant_id == principal.tenant_id)
            )
        ).one_or_none()
        if row is None or row.disabled or row.role != (principal.role.value if principal.role else None):
            raise AuthenticationError("the account was disabled or its role changed; sign in again")
        if principal.session_id is None:
            return  # minted by the hub itself outside a sign-in (tests, tools): no session to end
        live = await session.execute(
            select(RefreshToken.id)
            .where(
                RefreshToken.family_id == principal.session_id,
                RefreshToken.user_id == principal.id,
                RefreshToken.revoked_at.is_(None),
            )
            .limit(1)
        )
        if live.scalar_one_or_none() is None:
            raise AuthenticationError("this session was signed out or revoked; sign in again")
