"""The one HTTP transport of pvc: the Hrana client, the sqld admin API and the Turso Platform
API all send their requests through :class:`HttpTransport` (standard library only).

What it guarantees, so no caller has to remember it:

- **bound credentials**: a transport is made for ONE base URL with the credential given for
  it; it only ever connects to that scheme, host and port (plus a proxy, see below) and it
  never follows a redirect, so a token cannot travel to another host;
- **timeouts**: every connect and every wait for data is bounded; a :class:`Deadline` shared
  by all the requests of one command bounds their sum (one deadline per command);
- **keep-alive**: one connection is reused; an idle connection the server closed is
  detected before sending, and a send that fails on a reused connection is retried once on a
  new one (the server cannot have read it); nothing is retried after a request went out;
- **proxies**: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (either case) as curl reads them;
  loopback hosts (``localhost``, ``*.localhost``, ``127.*``, ``::1``) never go through a proxy;
- **redaction**: :func:`redact` removes the credential, ``Authorization`` headers and
  anything that looks like a bearer token or a JWT from any text a server sends back, and
  every error this module raises has already been redacted.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import select
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable

__all__ = [
    "HttpTransport",
    "Deadline",
    "TransportError",
    "ConnectFailed",
    "TimedOut",
    "ConnectionLost",
    "redact",
    "is_loopback",
]

# -- redaction ------------------------------------------------------------------------------
_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization)(\"?\s*[:=]\s*\"?)"
                     r"(?:(bearer|basic)\s+)?[^\s\",}]+")
_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_QUERY = re.compile(r"(?i)\b(authToken|token|jwt)=[^&\s\"']+")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """TEXT with every secret, Authorization header, bearer/basic credential and JWT
    replaced by ``***``."""
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}"
                       f"{m.group(3) + ' ' if m.group(3) else ''}***", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} ***", text)
    text = _JWT.sub("***", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}=***", text)
    for s in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


# -- errors ---------------------------------------------------------------------------------
class TransportError(Exception):
    """A request did not get an answer. ``.message`` is already redacted; ``.reason`` is
    the cause alone (redacted too), without the host, for callers that name the host
    themselves."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason if reason is not None else message


class ConnectFailed(TransportError):
    """The server could not be reached (refused, unreachable, name not resolved, TLS)."""


class TimedOut(TransportError):
    """No answer within the timeout or the command's deadline; the outcome is unknown."""


class ConnectionLost(TransportError):
    """The connection broke after the request went out; it may or may not have been applied."""


# -- deadlines ------------------------------------------------------------------------------
class Deadline:
    """One time budget for a whole command (monotonic clock): every network call of the
    command takes what is left, so two calls in a row cannot take twice the timeout."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def bound(self, timeout: float) -> float:
        """TIMEOUT, cut to what is left (never below a small positive value)."""
        return max(0.05, min(timeout, self.remaining()))


# -- proxies --------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL to use for SCHEME://HOST, from the environment, or None."""
    if is_loopback(host):
        return None
    proxies = urllib.request.getproxies_environment()
    # proxy_bypass_environment: in urllib.request since Python 3.4, missing from typeshed
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if proxies.get("no") and bypass(host, proxies):
        return None
    return proxies.get(scheme) or None


def _secs(t: float) -> str:
    return f"{t:.3g}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"name not resolved ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# -- the transport --------------------------------------------------------------------------
class HttpTransport:
    """Requests to ONE base URL (``http``/``https``) with ONE credential.

    ``authorization`` is the full ``Authorization`` header value (``Bearer ...`` or
    ``Basic ...``) or None; it is sent only to the base URL's host. ``requests`` counts the
    HTTP requests sent, ``connects`` the TCP connections opened.
    """

    def __init__(self, base_url: str, *, authorization: str | None = None,
                 timeout: float = 15.0, deadline: Deadline | None = None,
                 user_agent: str = "pvc/1"):
        parts = urllib.parse.urlsplit(base_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r} (use http or https)")
        if not parts.hostname:
            raise ValueError("URL has no host")
        self.scheme = scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.deadline = deadline
        self.user_agent = user_agent
        self._authorization = authorization
        self._conn: http.client.HTTPConnection | None = None
        self._proxy = proxy_for(scheme, self.host)
        self.requests = 0
        self.connects = 0

    # ---------------------------------------------------------------- naming
    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def secrets(self) -> list[str]:
        """What must never appear in text shown to the user."""
        out = []
        if self._authorization:
            out.append(self._authorization)
            _, _, cred = self._authorization.partition(" ")
            if cred:
                out.append(cred)
        return out

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    # ---------------------------------------------------------------- connections
    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass
            self._conn = None

    def _effective_timeout(self) -> float:
        if self.deadline is None:
            return self.timeout
        if self.deadline.expired:
            raise TimedOut(f"no answer from {self.where}: the command's deadline of "
                           f"{_secs(self.deadline.seconds)}s has passed")
        return self.deadline.bound(self.timeout)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is not None and conn.sock is not None:
            # a readable socket before we sent anything means the server closed it (or junk)
            try:
                readable, _, _ = select.select([conn.sock], [], [], 0)
            except (OSError, ValueError):
                readable = [conn.sock]
            if readable:
                self.close()
                conn = None
            else:
                conn.sock.settimeout(timeout)
        elif conn is not None:
            self.close()
            conn = None
        if conn is None:
            conn = self._new_connection(timeout)
            self._conn = conn
        return conn

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._proxy:
            p = urllib.parse.urlsplit(self._proxy)
            phost, pport = p.hostname or "", p.port or (443 if p.scheme == "https" else 80)
            headers = {}
            if p.username:
                cred = f"{urllib.parse.unquote(p.username)}:{urllib.parse.unquote(p.password or '')}"
                headers["Proxy-Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
            conn: http.client.HTTPConnection
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(phost, pport, timeout=timeout,
                                                   context=ssl.create_default_context())
                conn.set_tunnel(self.host, self.port, headers=headers)
                return conn
            conn = http.client.HTTPConnection(phost, pport, timeout=timeout)
            conn._pvc_proxy_headers = headers  # type: ignore[attr-defined]
            return conn
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _target(self, path: str) -> str:
        full = self.base_path + path
        if self._proxy and self.scheme == "http":  # a plain-HTTP proxy wants the absolute URL
            return f"http://{self.where}{full}"
        return full

    # ---------------------------------------------------------------- requests
    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request; return (status, body). Raises ConnectFailed, TimedOut or
        ConnectionLost (messages redacted)."""
        hdrs = {"User-Agent": self.user_agent, "Accept": "application/json"}
        hdrs.update(headers or {})
        if self._authorization:
            hdrs["Authorization"] = self._authorization
        for attempt in (0, 1):
            timeout = self._effective_timeout()
            conn = self._connection(timeout)
            hdrs.update(getattr(conn, "_pvc_proxy_headers", {}))
            reused = conn.sock is not None
            if not reused:
                self.connects += 1
            self.requests += 1
            try:
                conn.request(method, self._target(path), body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
                self.close()
                if reused and attempt == 0:
                    continue
                raise ConnectFailed(self.redact(f"cannot reach {self.where}: {_reason(exc)}"),
                                    self.redact(_reason(exc))) from None
            except (socket.timeout, TimeoutError):
                self.close()
                raise TimedOut(f"no answer from {self.where} within {_secs(timeout)}s") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ConnectFailed(self.redact(f"cannot reach {self.where}: {_reason(exc)}"),
                                    self.redact(_reason(exc))) from None
            try:
                resp = conn.getresponse()
                raw = resp.read()
            except (socket.timeout, TimeoutError):
                self.close()
                raise TimedOut(f"no answer from {self.where} within {_secs(timeout)}s") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ConnectionLost(self.redact(
                    f"connection to {self.where} lost before an answer ({_reason(exc)}); "
                    "the request may or may not have been applied")) from None
            if resp.will_close:
                self.close()
            return resp.status, raw
        raise AssertionError("unreachable")

    def text_of(self, raw: bytes, limit: int = 300) -> str:
        """A server's answer as redacted text, cut to LIMIT characters."""
        return self.redact(raw.decode("utf-8", "replace").strip())[:limit]

    def __enter__(self) -> "HttpTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
