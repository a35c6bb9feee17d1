"""Minimal Hrana v2 client over HTTP (``POST {url}/v2/pipeline``) on the standard library.

    client = HranaClient("http://main.localhost:8080", auth_token=token, timeout=15)
    client.execute(*primary.ref_target("refs/heads/main")).rows
    client.batch(primary.move_ref(name, old, new, at))   # atomic, one round trip

The statements come from promptvc/store/primary.py (this client writes no SQL of pvc's own,
only the BEGIN / COMMIT / ROLLBACK steps that make a batch atomic); what a statement error's
text means is ``store.primary.refusal``'s to say (``StatementError.refusal``).

Every Python ``int`` is sent as a Hrana ``integer`` (a decimal string in JSON), so 64-bit values
round-trip exactly (the libSQL Python binding binds ints outside 32 bits as REAL; see
docs TURSO.md). Results decode the same way.

Observed on sqld 0.24.32:
* A pipeline that does not end with a ``close`` request leaves a server-side stream open and
  returns a ``baton``; every request here ends with ``close``.
* A failing statement inside a batch does not stop the batch by itself: later steps run unless
  they are conditioned. ``batch()`` therefore conditions each step on the previous one, and
  ROLLBACK on "COMMIT did not succeed".
* Auth failures are HTTP 401 ``{"error": "Unauthorized: `The JWT is invalid`"}``; a read-only
  token writing is HTTP 403 ``{"error": "Authorization forbidden: ..."}`` for the whole request.
* A namespace that does not exist is HTTP 404 ``{"error": "Namespace `x` doesn't exist"}``.
* SQL errors: ``{"message": "SQLite error: UNIQUE constraint failed: t.c", "code":
  "SQLITE_CONSTRAINT"}``; parse errors have code ``SQL_PARSE_ERROR``.
* Blobs come back base64 *without* padding; floats that are not finite come back as
  ``{"type": "float", "value": null}`` (decoded here as None).

A ``RemoteTimeout`` means the outcome is unknown: the server may still apply the request later
(a SIGSTOPped server does, once resumed).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ErrorCode, PvcError
from ..store import primary
from .http import ConnectFailed, ConnectionLost, Deadline, HttpTransport, TimedOut

__all__ = [
    "HranaClient",
    "ResultSet",
    "HranaError",
    "AuthError",
    "ConnectError",
    "RemoteTimeout",
    "StatementError",
    "NotFoundError",
    "encode_value",
    "decode_value",
]

Args = Union[Sequence[Any], Mapping[str, Any]]
Statement = Union[str, tuple]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------- errors
class HranaError(PvcError):
    """Base class: ``.message`` (text), ``.code`` (sqld's code, or HTTP_<status>, or None)
    and ``.error_code`` (pvc's :class:`ErrorCode`, by subclass)."""

    error_code = ErrorCode.REMOTE

    def __init__(self, message: str, code: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason if reason is not None else message  # the cause, without the host


class AuthError(HranaError):
    """The server refused the credentials (HTTP 401/403)."""

    error_code = ErrorCode.AUTH


class ConnectError(HranaError, ConnectionError):
    """The server could not be reached (refused, unreachable, name not resolved, TLS...)."""

    error_code = ErrorCode.UNREACHABLE


class RemoteTimeout(HranaError, TimeoutError):
    """No answer within the timeout. The request may or may not have been applied."""

    error_code = ErrorCode.TIMEOUT


class NotFoundError(HranaError):
    """HTTP 404: with sqld namespaces, the database (namespace) does not exist."""

    error_code = ErrorCode.NOT_FOUND


class StatementError(HranaError):
    """A SQL statement failed. ``.step`` is its index in the statements given to ``batch``
    (0 for ``execute``), or None when the failing step was the batch's own BEGIN/COMMIT.
    ``.message`` is sqld's message verbatim, ``.code`` its code (e.g. SQLITE_CONSTRAINT)."""

    error_code = ErrorCode.STATEMENT

    def __init__(self, message: str, code: str | None = None, step: int | None = None,
                 sql: str | None = None):
        super().__init__(message, code)
        self.step = step
        self.sql = sql
        where = f"statement {step}" if step is not None else "batch"
        self.args = (f"{where} failed: {message}",)

    def __str__(self) -> str:
        return self.args[0]

    @property
    def refusal(self) -> primary.Refusal:
        """What the primary's message says (for code to branch on; never read the text)."""
        return primary.refusal(self.message, self.sql)


# ---------------------------------------------------------------------------- values
def encode_value(value: Any) -> dict[str, Any]:
    """Python value -> Hrana value object."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "integer", "value": "1" if value else "0"}
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer {value} does not fit in 64 bits")
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot send non-finite float {value!r} (JSON has no encoding)")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "blob", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot send a value of type {type(value).__name__} to libSQL")


def decode_value(obj: Mapping[str, Any]) -> Any:
    """Hrana value object -> Python value."""
    kind = obj.get("type")
    if kind == "null":
        return None
    if kind == "integer":
        return int(obj["value"])
    if kind == "float":
        v = obj.get("value")
        return None if v is None else float(v)
    if kind == "text":
        return obj["value"]
    if kind == "blob":
        data = obj.get("base64") or ""
        return base64.b64decode(data + "=" * (-len(data) % 4))
    raise HranaError(f"unknown Hrana value type {kind!r}", "PROTOCOL")


def _encode_stmt(sql: str, args: Args | None) -> dict[str, Any]:
    stmt: dict[str, Any] = {"sql": sql, "want_rows": True}
    if args:
        if isinstance(args, Mapping):
            stmt["named_args"] = [
                {"name": k if k[:1] in (":", "@", "$") else f":{k}", "value": encode_value(v)}
                for k, v in args.items()
            ]
        else:
            stmt["args"] = [encode_value(v) for v in args]
    return stmt


# ---------------------------------------------------------------------------- results
@dataclass
class ResultSet:
    columns: list[str]
    rows: list[tuple]
    affected_row_count: int = 0
    last_insert_rowid: int | None = None
    decltypes: list[str | None] = field(default_factory=list)

    @classmethod
    def from_json(cls, result: Mapping[str, Any]) -> "ResultSet":
        cols = result.get("cols") or []
        rowid = result.get("last_insert_rowid")
        return cls(
            columns=[c.get("name") or "" for c in cols],
            rows=[tuple(decode_value(v) for v in row) for row in result.get("rows") or []],
            affected_row_count=int(result.get("affected_row_count") or 0),
            last_insert_rowid=int(rowid) if rowid is not None else None,
            decltypes=[c.get("decltype") for c in cols],
        )

    def __iter__(self):
        return iter(self.rows)

    def scalar(self) -> Any:
        """First column of the first row, or None when there is no row."""
        return self.rows[0][0] if self.rows and self.rows[0] else None


# ---------------------------------------------------------------------------- client
def _parse_url(url: str) -> tuple[str, str, int, str, str | None]:
    """-> (scheme http|https, host, port, base path, authToken from the query if any)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    query = urllib.parse.parse_qs(parts.query)
    tokens = query.get("authToken")
    token = tokens[0] if tokens else None
    if scheme in ("libsql", "wss"):
        tls = (query.get("tls") or ["1"])[0]
        scheme = "http" if tls in ("0", "false", "no") else "https"
    elif scheme == "ws":
        scheme = "http"
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (use http, https or libsql)")
    if not parts.hostname:
        raise ValueError("URL has no host")
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname, port, parts.path.rstrip("/"), token


class HranaClient:
    """Hrana-over-HTTP client with one keep-alive connection (through
    :class:`promptvc.remote.http.HttpTransport`, which binds the token to this URL's host,
    bounds every wait and redacts what the server echoes).

    ``timeout`` (seconds) applies to connecting and to each wait for data from the server;
    ``deadline`` (a :class:`~promptvc.remote.http.Deadline`) bounds all requests together.
    ``requests`` counts HTTP requests sent (one per ``execute``/``batch``), ``connects``
    counts TCP connections opened. Not for concurrent use from many threads (calls are
    serialised by a lock).
    """

    def __init__(self, url: str, auth_token: str | None = None, timeout: float = 15.0,
                 deadline: Deadline | None = None):
        scheme, host, port, base, url_token = _parse_url(url)
        self.scheme = scheme
        self.host = host
        self.port = port
        self._base = base
        self._path = "/v2/pipeline"
        self._token = auth_token if auth_token is not None else url_token
        hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._http = HttpTransport(
            f"{scheme}://{hostport}{base}",
            authorization=f"Bearer {self._token}" if self._token else None,
            timeout=timeout, deadline=deadline, user_agent="pvc-hrana/1")
        self._lock = threading.Lock()

    @property
    def timeout(self) -> float:
        return self._http.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._http.timeout = value

    @property
    def requests(self) -> int:
        return self._http.requests

    @property
    def connects(self) -> int:
        return self._http.connects

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        """The endpoint base URL (never includes credentials)."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self._base}"

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def execute(self, sql: str, args: Args = ()) -> ResultSet:
        """Run one statement (autocommit) in one HTTP request."""
        stmt = _encode_stmt(sql, args)
        body = {"requests": [{"type": "execute", "stmt": stmt}, {"type": "close"}]}
        result = self._pipeline(body)[0]
        if result.get("type") == "error":
            err = result.get("error") or {}
            raise self._statement_error(err, 0, sql)
        return ResultSet.from_json(result["response"]["result"])

    def batch(self, statements: Sequence[Statement]) -> list[ResultSet]:
        """Run statements atomically in ONE HTTP request; return one ResultSet per statement.

        The Hrana batch is: BEGIN; statement i if step i-1 ok; COMMIT if the last statement
        ok; ROLLBACK if COMMIT did not succeed. The first failing statement raises
        StatementError (with its index) and nothing of the batch remains.
        Each item is ``(sql, args)`` or a bare SQL string.
        """
        stmts: list[tuple[str, Args]] = []
        for item in statements:
            if isinstance(item, str):
                stmts.append((item, ()))
            else:
                sql, *rest = item
                stmts.append((sql, rest[0] if rest else ()))
        if not stmts:
            return []
        n = len(stmts)
        steps: list[dict[str, Any]] = [{"stmt": {"sql": "BEGIN"}}]
        for i, (sql, args) in enumerate(stmts, start=1):
            steps.append(
                {"stmt": _encode_stmt(sql, args), "condition": {"type": "ok", "step": i - 1}}
            )
        commit = n + 1
        steps.append({"stmt": {"sql": "COMMIT"}, "condition": {"type": "ok", "step": n}})
        steps.append(
            {"stmt": {"sql": "ROLLBACK"},
             "condition": {"type": "not", "cond": {"type": "ok", "step": commit}}}
        )
        body = {"requests": [{"type": "batch", "batch": {"steps": steps}}, {"type": "close"}]}
        result = self._pipeline(body)[0]
        if result.get("type") == "error":  # the batch as a whole was refused
            err = result.get("error") or {}
            exc = self._statement_error(err, None, None)
            if isinstance(exc, StatementError):
                exc = HranaError(f"batch refused by {self.where}: {exc.message}", exc.code)
            raise exc
        batch = result["response"]["result"]
        step_results = batch.get("step_results") or []
        step_errors = batch.get("step_errors") or []

        def error_at(i: int):
            return step_errors[i] if i < len(step_errors) else None

        if error_at(0):
            raise self._statement_error(error_at(0), None, "BEGIN")
        for i in range(1, n + 1):
            if error_at(i):
                raise self._statement_error(error_at(i), i - 1, stmts[i - 1][0])
        if error_at(commit):
            raise self._statement_error(error_at(commit), None, "COMMIT")
        if commit >= len(step_results) or step_results[commit] is None:
            raise HranaError(
                f"batch on {self.where} was not committed (no step reported an error)", "PROTOCOL"
            )
        return [ResultSet.from_json(step_results[i]) for i in range(1, n + 1)]

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> "HranaClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        auth = "token" if self._token else "no auth"
        return f"<HranaClient {self.url} ({auth}) requests={self.requests}>"

    # ------------------------------------------------------------------ internals
    def _statement_error(
        self, err: Mapping[str, Any], step: int | None, sql: str | None
    ) -> HranaError:
        message = self._http.redact(str(err.get("message") or "unknown error"))
        code = err.get("code")
        code = self._http.redact(str(code))[:64] if code is not None else None
        if primary.refusal(message) is primary.Refusal.AUTH:
            return AuthError(f"authentication failed: {message}", code)
        return StatementError(message, code, step, sql)

    def _drop(self) -> None:
        self._http.close()

    def _pipeline(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        with self._lock:
            status, raw = self._send(data)
        text = raw.decode("utf-8", "replace")  # rows are data: only error text is redacted
        payload: Any
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        if status != 200:
            detail = payload.get("error") if isinstance(payload, dict) else None
            detail = str(detail) if detail is not None else (text.strip()[:200] or "no details")
            detail = self._http.redact(detail)
            if status in (401, 403):
                raise AuthError(f"authentication failed: {detail}", f"HTTP_{status}")
            if status == 404:
                raise NotFoundError(f"not found on {self.where}: {detail}", "HTTP_404")
            raise HranaError(f"HTTP {status} from {self.where}: {detail}", f"HTTP_{status}")
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise HranaError(f"unexpected answer from {self.where}: "
                             f"{self._http.redact(text[:200])!r}", "PROTOCOL")
        results = payload["results"]
        if len(results) != len(body["requests"]):
            raise HranaError(
                f"unexpected answer from {self.where}: wrong result count", "PROTOCOL"
            )
        return results

    def _send(self, data: bytes) -> tuple[int, bytes]:
        """One HTTP request (the transport retries a send on a stale keep-alive connection
        once; nothing is retried after the request went out)."""
        try:
            return self._http.request("POST", self._path, data,
                                      {"Content-Type": "application/json"})
        except TimedOut as exc:
            raise RemoteTimeout(exc.message, "TIMEOUT") from None
        except ConnectionLost as exc:
            raise ConnectError(exc.message, "CONNECTION_LOST", exc.reason) from None
        except ConnectFailed as exc:
            raise ConnectError(exc.message, "CONNECT", exc.reason) from None
