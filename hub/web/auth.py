"""Who is looking at a page: the access token in an HttpOnly cookie, checked as the API checks a bearer token
(signature and expiry, rate limits, a user still active with the same role), renewed with the refresh token in a
second cookie when it expires; and the CSRF token every form carries.

The CSRF token is bound to the browser and the person: a random nonce in its own cookie, and the form field holds
that nonce with an HMAC over it and the user id (or ``sign-in`` on the sign-in form). A page of another site can
neither read the cookie nor forge the HMAC; SameSite=Strict keeps the cookies off its requests in the first place.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.state import HubState
from hub.domain.identity import Principal, TokenPair
from hub.errors import AuthenticationError, ForbiddenError, RateLimitedError

PREFIX = "/ui"
ACCESS_COOKIE = "tracseq_access"
REFRESH_COOKIE = "tracseq_refresh"
CSRF_COOKIE = "tracseq_csrf"
CSRF_FIELD = "csrf"
SIGN_IN_SUBJECT = "sign-in"
_PENDING = "web_cookies"


class SignInRequiredError(Exception):
    """The page needs a signed-in person: the handler redirects to the sign-in page, back to ``next`` after."""

    def __init__(self, next_path: str, *, clear: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.clear = clear


def _secure(request: Request, state: HubState) -> bool:
    return request.url.scheme == "https" or state.settings.environment == "production"


def _queue(request: Request, response_headers: list[tuple[bytes, bytes]]) -> None:
    pending: list[tuple[bytes, bytes]] = request.scope.setdefault("state", {}).setdefault(_PENDING, [])
    pending.extend(response_headers)


def set_cookie(request: Request, state: HubState, name: str, value: str, max_age: int | None) -> None:
    """Queue a Set-Cookie for whatever response this request ends with (a page, a redirect or an error)."""
    carrier = Response()
    carrier.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        secure=_secure(request, state),
        httponly=True,
        samesite="strict",
    )
    _queue(request, [(k, v) for k, v in carrier.raw_headers if k == b"set-cookie"])


def clear_cookie(request: Request, state: HubState, name: str) -> None:
    carrier = Response()
    carrier.delete_cookie(name, path=PREFIX, secure=_secure(request, state), httponly=True, samesite="strict")
    _queue(request, [(k, v) for k, v in carrier.raw_headers if k == b"set-cookie"])


class PendingCookies:
    """Adds the cookies a request queued (a renewed session, a new CSRF nonce) to its response, whatever it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                pending = scope["state"].get(_PENDING)
                if pending:
                    message = {**message, "headers": [*message.get("headers", []), *pending]}
                    scope["state"][_PENDING] = []
            await send(message)

        await self.app(scope, receive, sending)


class WebAuth:
    def __init__(self, state: HubState) -> None:
        self.state = state

    # -- the session ---------------------------------------------------------------------------------------------

    def start_session(self, request: Request, pair: TokenPair) -> None:
        self.state.identity.principal_from_token(pair.access_token)  # a token we could not read back is a bug
        set_cookie(request, self.state, ACCESS_COOKIE, pair.access_token, self.state.settings.refresh_token_ttl_s)
        set_cookie(request, self.state, REFRESH_COOKIE, pair.refresh_token, self.state.settings.refresh_token_ttl_s)

    def end_session(self, request: Request) -> None:
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            clear_cookie(request, self.state, name)

    async def principal(self, request: Request) -> Principal:
        """The signed-in person, with the API's checks; ``SignInRequiredError`` when there is none."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        token = request.cookies.get(ACCESS_COOKIE)
        if not token:
            raise SignInRequiredError(here)
        identity = self.state.identity
        try:
            principal = identity.principal_from_token(token)
        except AuthenticationError:
            principal = await self._renew(request, here)
        if principal.kind != "user":
            raise SignInRequiredError(here, clear=True)
        settings = self.state.settings
        for key, allowed in (
            (f"user:{principal.id}", settings.rate_user_per_min),
            (f"tenant:{principal.tenant_id}", settings.rate_tenant_per_min),
        ):
            retry = await self.state.limiter.hit(key, allowed)
            if retry is not None:
                raise RateLimitedError(f"rate limit for {key.split(':')[0]} reached ({allowed} per minute)", retry)
        await self.still_active(principal, here)
        request.state.principal = principal
        return principal

    async def still_active(self, principal: Principal, here: str) -> None:
        try:
            async with self.state.db.read() as session:
                await self.state.identity.still_active(session, principal)
        except AuthenticationError as exc:
            raise SignInRequiredError(here, clear=True) from exc

    async def _renew(self, request: Request, here: str) -> Principal:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise SignInRequiredError(here, clear=True)
        try:
            async with self.state.db.transaction() as session:
                pair = await self.state.identity.refresh(session, refresh)
        except AuthenticationError as exc:
            raise SignInRequiredError(here, clear=True) from exc
        self.start_session(request, pair)
        request.cookies[ACCESS_COOKIE] = pair.access_token  # later reads in this request see the new session
        return self.state.identity.principal_from_token(pair.access_token)

    # -- CSRF ---------------------------------------------------------------------------------------------------

    def _mac(self, nonce: str, subject: str) -> str:
        secret = self.state.settings.jwt_secret.get_secret_value().encode()
        return hmac.new(secret, f"tracseq-web-csrf|{nonce}|{subject}".encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, request: Request, subject: str) -> str:
        """The value of a form's hidden ``csrf`` field; sets the nonce cookie on first use."""
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or len(nonce) > 64:
            nonce = secrets.token_urlsafe(24)
            set_cookie(request, self.state, CSRF_COOKIE, nonce, None)
            request.cookies[CSRF_COOKIE] = nonce
        return f"{nonce}.{self._mac(nonce, subject)}"

    def check_csrf(self, request: Request, form: dict[str, str], subject: str) -> None:
        sent = form.get(CSRF_FIELD, "")
        nonce, _, mac = sent.partition(".")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (
            nonce
            and cookie
            and hmac.compare_digest(nonce, cookie)
            and hmac.compare_digest(mac, self._mac(nonce, subject))
        ):
            raise ForbiddenError("this form has expired or did not come from this site; reload the page and retry")


def safe_next(value: Any) -> str:
    """Where to go after signing in: a page of ours only (never another site, never a scheme-relative URL)."""
    if isinstance(value, str) and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"
