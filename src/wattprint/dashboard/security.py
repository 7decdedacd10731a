"""The dashboard's guard: read-only, local by default, a token when served to a network.

One ASGI middleware in front of every route (static files included):

* **Read-only.** Only ``GET`` and ``HEAD`` reach the app; anything else is
  answered 405 before routing, so no route can ever change the store.
* **Local.** Bound to loopback (the default), a request must name a loopback
  host in its ``Host`` header (``127.0.0.1``, ``localhost``, ``[::1]``): a web
  page elsewhere that rebinds its own DNS name to 127.0.0.1 gets 403, so it
  cannot read the runs through the user's browser.
* **Token.** Served to a network (``--allow-network``), every request needs the
  token: ``Authorization: Bearer TOKEN``, the ``wattprint_token`` cookie, or
  ``?token=TOKEN`` once (answered with a redirect to the same URL without it,
  setting the cookie: HttpOnly, SameSite=Strict, so the token leaves the
  address bar and history). No token: 401; a wrong one: 403. Compared in
  constant time.
* **Headers.** Every response gets a Content-Security-Policy (scripts, styles
  and fetches from this origin only; no inline script or style, no frames, no
  plugins), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``; a route that sets
  its own CSP (the HTML report, whose style is inline) keeps it.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "wattprint_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


class Guard:
    """ASGI middleware: see the module's docstring. ``token=None``: local mode (Host check)."""

    def __init__(self, app: ASGIApp, *, token: str | None = None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, "read-only: only GET and HEAD", [(b"allow", b"GET, HEAD")])
            return
        if self.token is None:
            if host_name(headers.get("host", "")) not in LOOPBACK_NAMES:
                await _plain(send, 403, "this dashboard answers only to a loopback host name")
                return
        else:
            denied = await self._check_token(scope, headers, send)
            if denied:
                return
        await self.app(scope, receive, send)

    async def _check_token(self, scope: Scope, headers: dict[str, str], send: Send) -> bool:
        """True when the request was answered here (refused, or redirected to drop ``?token=``)."""
        assert self.token is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given:
            if not self._same(given[-1]):
                await _plain(send, 403, "wrong token")
                return True
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            # a path of this server only: "//host" or "/\\host" would send the browser elsewhere
            path = quote("/" + scope.get("path", "/").lstrip("/\\"), safe="/-._~!$&'()*+,;=:@")
            location = path + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={given[-1]}; Path=/; HttpOnly; SameSite=Strict"
            await _plain(send, 303, "see other", [(b"location", location.encode("latin-1")),
                                                  (b"set-cookie", cookie.encode("latin-1"))])
            return True
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered: str | None = auth[7:].strip()
        else:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers.get("cookie", ""))
            except Exception:  # a malformed cookie header is the same as none
                jar = SimpleCookie()
            offered = jar[COOKIE].value if COOKIE in jar else None
        if offered is None:
            await _plain(send, 401, "a token is needed: open the URL printed at start (?token=...)",
                         [(b"www-authenticate", b'Bearer realm="wattprint"')])
            return True
        if not self._same(offered):
            await _plain(send, 403, "wrong token")
            return True
        return False

    def _same(self, offered: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(offered.encode("utf-8", "replace"), self.token)


def _with_headers(send: Send) -> Send:
    """``send`` adding the security headers to the response start (a route's own CSP kept)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[Any] = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in names:
                headers.append((b"content-security-policy", CSP.encode()))
            headers.extend(h for h in HEADERS if h[0] not in names)
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
