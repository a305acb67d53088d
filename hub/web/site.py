"""The pages' application: a FastAPI sub-application mounted at ``/ui`` beside the API, with its templates, the
dependencies that make every page need a signed-in person with a permission, HTML error pages, and the headers every
page carries (a strict Content-Security-Policy: scripts, styles and images from this site only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException

from hub.api.state import HubState
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import BadRequestError, HubError, PayloadTooLargeError, RateLimitedError
from hub.web.auth import PREFIX, SIGN_IN_SUBJECT, PendingCookies, SignInRequiredError, WebAuth

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
UNITS = {"Cel": "°C", "degC": "°C", "K": "K", "%": "%", "pct": "%"}
NAV = (
    ("Facilities", "/", Permission.STORAGE_READ),
    ("Samples", "/samples", Permission.SAMPLES_READ),
    ("Sequencing", "/sequencing", Permission.SEQUENCING_READ),
    ("Audit", "/audit", Permission.AUDIT_READ),
)


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["unit"] = lambda u: UNITS.get(u or "", u or "")
    env.filters["iso"] = lambda v: "" if v is None else v.isoformat()
    env.globals["prefix"] = PREFIX
    return env


def hub_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


WebState = Annotated[HubState, Depends(hub_state)]


def web_auth(request: Request) -> WebAuth:
    auth: WebAuth = request.app.state.web_auth
    return auth


AuthDep = Annotated[WebAuth, Depends(web_auth)]


async def signed_in(request: Request, auth: AuthDep) -> Principal:
    return await auth.principal(request)


SignedIn = Annotated[Principal, Depends(signed_in)]


def page_needs(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: SignedIn) -> Principal:
        principal.require(permission)
        return principal

    check.__name__ = f"page_{permission.name.lower()}"
    return check


async def read_form(request: Request) -> dict[str, str]:
    """A small url-encoded form (the first value of each field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError(f"a form is at most {MAX_FORM_BYTES} bytes")
    if not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise BadRequestError("send the form as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("the form could not be read") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    auth = web_auth(request)
    nav = [(label, PREFIX + path) for label, path, need in NAV if principal is not None and principal.can(need)]
    text = request.app.state.templates.get_template(template).render(
        request=request,
        principal=principal,
        nav=nav,
        path=request.url.path,
        csrf=auth.csrf_token(request, principal.id if principal else SIGN_IN_SUBJECT),
        can=(lambda p: principal is not None and principal.can(Permission(p))),
        **context,
    )
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})


def _error_page(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    response = render(request, "error.html", status, title=title, detail=detail)
    response.headers.update(headers or {})
    return response


def _install_errors(app: FastAPI) -> None:
    async def sign_in(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, SignInRequiredError):
            raise exc
        if exc.clear:
            web_auth(request).end_session(request)
        return redirect(f"{PREFIX}/login?{urlencode({'next': exc.next_path})}")

    async def hub_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HubError):
            raise exc
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        return _error_page(request, exc.status, exc.title, exc.detail, headers)

    async def bad_query(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):
            raise exc
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('query', 'path'))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error_page(request, 422, "Check what you asked for", detail)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise exc
        title = "Not found" if exc.status_code == 404 else "Request refused"
        return _error_page(request, exc.status_code, title, str(exc.detail))

    app.add_exception_handler(SignInRequiredError, sign_in)
    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(RequestValidationError, bad_query)
    app.add_exception_handler(HTTPException, http_error)


def build_pages(state: HubState) -> FastAPI:
    from hub.web import audit, facilities, lab, signin

    pages = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="TracSeq pages")
    pages.state.hub = state
    pages.state.web_auth = WebAuth(state)
    pages.state.templates = _templates()
    _install_errors(pages)
    for router in (signin.router, facilities.router, lab.router, audit.router):
        pages.include_router(router)
    pages.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages.add_middleware(PendingCookies)
    return pages


def mount_pages(app: FastAPI, state: HubState) -> None:
    """Serve the pages at ``/ui`` (once: a second call changes nothing)."""
    if any(getattr(route, "path", None) == PREFIX for route in app.router.routes):
        return
    app.mount(PREFIX, build_pages(state), name="pages")
