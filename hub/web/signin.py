"""Signing in and out: the same ``Identity.login`` and ``Identity.logout`` as ``/v1/auth``, with the tokens kept in
HttpOnly cookies instead of handed to a script."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from hub.errors import AuthenticationError
from hub.web.auth import PREFIX, REFRESH_COOKIE, SIGN_IN_SUBJECT, safe_next
from hub.web.site import AuthDep, SignedIn, WebState, read_form, redirect, render

router = APIRouter()


@router.get("/login")
async def login_page(
    request: Request, next: Annotated[str, Query(max_length=500)] = PREFIX + "/", tenant: str = ""
) -> Response:
    return render(request, "login.html", next=next, tenant=tenant[:63], username="", error=None)


@router.post("/login")
async def login(request: Request, state: WebState, auth: AuthDep) -> Response:
    form = await read_form(request)
    auth.check_csrf(request, form, SIGN_IN_SUBJECT)
    tenant, username, password = (form.get(k, "")[:256] for k in ("tenant", "username", "password"))
    target = form.get("next", PREFIX + "/")
    try:
        if not (tenant and username and password):
            raise AuthenticationError("enter the lab, your user name and your password")
        async with state.db.transaction() as session:
            pair = await state.identity.login(session, tenant[:63], username[:64], password)
    except AuthenticationError as exc:
        return render(request, "login.html", 401, next=target, tenant=tenant, username=username, error=exc.detail)
    auth.start_session(request, pair)
    return redirect(safe_next(target))


@router.post("/logout")
async def logout(request: Request, principal: SignedIn, state: WebState, auth: AuthDep) -> Response:
    form = await read_form(request)
    auth.check_csrf(request, form, principal.id)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        async with state.db.transaction() as session:
            await state.identity.logout(session, refresh)
    auth.end_session(request)
    return redirect(f"{PREFIX}/login")
