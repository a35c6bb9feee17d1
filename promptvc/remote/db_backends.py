"""Branch databases: a pvc branch on a remote is its own libSQL database (a fork).

One interface, two real implementations:

- :class:`SqldBackend`: a self-hosted sqld with namespaces; its admin API forks
  (`POST /v1/namespaces/SRC/fork/DST`), deletes (`DELETE /v1/namespaces/NS`) and freezes
  (`POST /v1/namespaces/NS/config` with `block_writes`). A namespace is reached at
  `http://NS.<host>:<port>` (the first label of the Host header picks it).
- :class:`TursoBackend`: Turso Cloud's Platform API: create a database seeded from the
  parent (optionally at a timestamp), delete, list by parent, mint tokens.

Database names are `[a-z0-9-]`, at most 64 characters, derived from the branch name plus a
random suffix: a name is never reused (a re-created namespace can leave an old replica
file silently stale; shared/TURSO.md trap 5).
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
from dataclasses import dataclass

from ..errors import ErrorCode, RemoteError
from .http import Deadline, HttpTransport, TimedOut, TransportError, redact

NAME_MAX = 64


@dataclass(frozen=True)
class BranchDb:
    name: str
    url: str


_DB_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def valid_db_name(name: str) -> bool:
    """Is NAME a database name pvc accepts (the rule of ``check_db_name``)?"""
    return isinstance(name, str) and _DB_NAME.fullmatch(name) is not None


def check_db_name(name: str, remote: str = "the remote") -> str:
    """NAME if it is a database name pvc accepts (`[a-z0-9-]`, at most 64, no leading or
    trailing '-'); it becomes part of a file name, so anything else is refused."""
    if not valid_db_name(name):
        raise BackendError(f"{remote} names a branch database {str(name)[:80]!r} that is not a "
                           "valid database name",
                           hint="database names are lowercase letters, digits and '-'; "
                                "the remote's branch_dbs table is damaged")
    return name


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "branch"


def new_db_name(base: str, branch: str) -> str:
    """A fresh, valid, never-reused database name for BRANCH of database BASE."""
    suffix = secrets.token_hex(3)
    head = f"{slug(base)}-{slug(branch)}"
    head = head[: NAME_MAX - len(suffix) - 1].strip("-")
    return f"{head}-{suffix}"


class BackendError(RemoteError):
    error_code = ErrorCode.BACKEND

    def __init__(self, message: str, status: int | None = None, hint: str | None = None,
                 error_code: ErrorCode | None = None):
        super().__init__(message, hint=hint, error_code=error_code)
        self.status = status


def _request(base: str, method: str, path: str, *, authorization: str | None,
             body: object | None = None, timeout: float = 15.0,
             deadline: Deadline | None = None) -> tuple[int, object]:
    """One call to an admin / platform API through the shared transport: the credential
    goes to BASE's host only, and the answer comes back redacted (a server may echo the
    Authorization header)."""
    transport = HttpTransport(base, authorization=authorization, timeout=timeout,
                              deadline=deadline)
    data = None if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    try:
        status, raw = transport.request(method, path, data, hdrs)
    except TransportError as exc:
        raise BackendError(exc.message,
                           hint="check the admin / API URL and that the service runs",
                           error_code=ErrorCode.TIMEOUT if isinstance(exc, TimedOut)
                           else ErrorCode.UNREACHABLE) from None
    finally:
        transport.close()
    try:
        payload = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = raw.decode("utf-8", "replace")
    if 200 <= status < 300:
        return status, payload  # data (a minted token is an answer, not an echo)
    return status, _redact(payload, transport.secrets)


def _redact(payload: object, secrets: list[str]) -> object:
    """PAYLOAD with every secret and credential-looking text removed."""
    if isinstance(payload, str):
        return redact(payload, secrets)
    if isinstance(payload, dict):
        return {k: _redact(v, secrets) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_redact(v, secrets) for v in payload]
    return payload


def _err_text(payload: object) -> str:
    if isinstance(payload, dict):
        return str(payload.get("error") or payload.get("message") or payload)
    return str(payload)


class BranchBackend:
    """Creates, deletes and freezes branch databases."""

    kind = "abstract"
    can_freeze = False

    def database_of_url(self, url: str) -> str:
        raise NotImplementedError

    def create(self, parent: str, name: str, timestamp: str | None = None) -> BranchDb:
        raise NotImplementedError

    def delete(self, name: str) -> bool:
        """Delete database NAME; False when it did not exist."""
        raise NotImplementedError

    def freeze(self, name: str) -> None:
        raise NotImplementedError

    def cleanup_hint(self, name: str) -> str:
        raise NotImplementedError

    def mint_token(self, name: str, read_only: bool = True, expiration: str = "never") -> str:
        raise BackendError(f"{self.kind} cannot mint tokens for a branch database",
                           hint="use a token the server accepts for every database")


# -- sqld -------------------------------------------------------------------------------------
class SqldBackend(BranchBackend):
    kind = "sqld"
    can_freeze = True

    def __init__(self, admin_url: str, remote_url: str, admin_key: str | None = None,
                 timeout: float = 15.0):
        self.admin_url = admin_url.rstrip("/")
        self.remote_url = remote_url
        self.admin_key = admin_key
        self.timeout = timeout
        self.deadline: Deadline | None = None

    def _authorization(self) -> str | None:
        return f"Basic {self.admin_key}" if self.admin_key else None

    def database_of_url(self, url: str) -> str:
        host = urllib.parse.urlsplit(url).hostname or ""
        labels = host.split(".")
        if len(labels) >= 2 and not re.fullmatch(r"[\d.]+", host):
            return labels[0]
        return "default"  # a single-label host (localhost) reaches the default namespace

    def url_of(self, name: str) -> str:
        parts = urllib.parse.urlsplit(self.remote_url)
        host = parts.hostname or "localhost"
        labels = host.split(".")
        if len(labels) >= 2 and not re.fullmatch(r"[\d.]+", host):
            labels = labels[1:]
        new_host = ".".join([name] + labels)
        netloc = f"{new_host}:{parts.port}" if parts.port else new_host
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    def _call(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        return _request(self.admin_url, method, path, authorization=self._authorization(),
                        body=body, timeout=self.timeout, deadline=self.deadline)

    def create(self, parent: str, name: str, timestamp: str | None = None) -> BranchDb:
        body = {"timestamp": timestamp} if timestamp else {}
        status, payload = self._call("POST", f"/v1/namespaces/{parent}/fork/{name}", body)
        if status != 200:
            raise BackendError(f"sqld could not fork database '{parent}' into '{name}' "
                               f"(HTTP {status}: {_err_text(payload)})", status,
                               hint="check the admin URL and that the parent database exists")
        return BranchDb(name, self.url_of(name))

    def delete(self, name: str) -> bool:
        status, payload = self._call("DELETE", f"/v1/namespaces/{name}")
        if status == 404:
            return False
        if status != 200:
            raise BackendError(f"sqld could not delete database '{name}' "
                               f"(HTTP {status}: {_err_text(payload)})", status)
        return True

    def freeze(self, name: str) -> None:
        status, payload = self._call("POST", f"/v1/namespaces/{name}/config",
                                     {"block_reads": False, "block_writes": True})
        if status != 200:
            raise BackendError(f"sqld could not freeze database '{name}' "
                               f"(HTTP {status}: {_err_text(payload)})", status)

    def exists(self, name: str) -> bool:
        status, _ = self._call("GET", f"/v1/namespaces/{name}/config")
        return status == 200

    def cleanup_hint(self, name: str) -> str:
        return f"curl -X DELETE {self.admin_url}/v1/namespaces/{name}"


# -- Turso Cloud ------------------------------------------------------------------------------
class TursoBackend(BranchBackend):
    kind = "turso"

    def __init__(self, org: str, api_token: str | None, remote_url: str, group: str = "default",
                 api_url: str = "https://api.turso.tech", timeout: float = 15.0):
        self.org = org
        self.api_token = api_token
        self.remote_url = remote_url
        self.group = group
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.deadline: Deadline | None = None

    def _authorization(self) -> str:
        if not self.api_token:
            raise BackendError("no Turso platform token",
                               hint="set $TURSO_API_TOKEN (or the remote's platform_token_env)")
        return f"Bearer {self.api_token}"

    def _call(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        status, payload = _request(self.api_url, method, f"/v1/organizations/{self.org}{path}",
                                   authorization=self._authorization(), body=body,
                                   timeout=self.timeout, deadline=self.deadline)
        if status == 401:
            raise BackendError("Turso rejected the platform token (HTTP 401)", 401,
                               hint="set $TURSO_API_TOKEN to a valid platform API token")
        return status, payload

    def database_of_url(self, url: str) -> str:
        host = urllib.parse.urlsplit(url).hostname or ""
        first = host.split(".")[0]
        suffix = f"-{self.org}"
        return first[: -len(suffix)] if first.endswith(suffix) else first

    def url_of_hostname(self, hostname: str) -> str:
        parts = urllib.parse.urlsplit(self.remote_url)
        return urllib.parse.urlunsplit((parts.scheme or "libsql", hostname, "", parts.query, ""))

    def create(self, parent: str, name: str, timestamp: str | None = None) -> BranchDb:
        seed: dict[str, str] = {"type": "database", "name": parent}
        if timestamp:
            seed["timestamp"] = timestamp
        status, payload = self._call("POST", "/databases",
                                     {"name": name, "group": self.group, "seed": seed})
        if status == 409:
            raise BackendError(f"Turso: a database named '{name}' already exists", 409,
                               hint="run the command again (a new name is picked each time)")
        if status == 400:
            raise BackendError(f"Turso refused to create '{name}': {_err_text(payload)}", 400,
                               hint=f"check that group '{self.group}' and database '{parent}' exist")
        if status != 200 or not isinstance(payload, dict) or "database" not in payload:
            raise BackendError(f"Turso could not create '{name}' (HTTP {status}: "
                               f"{_err_text(payload)})", status)
        db = payload["database"]
        return BranchDb(db.get("Name", name), self.url_of_hostname(db["Hostname"]))

    def delete(self, name: str) -> bool:
        status, payload = self._call("DELETE", f"/databases/{name}")
        if status == 404:
            return False
        if status != 200:
            raise BackendError(f"Turso could not delete '{name}' (HTTP {status}: "
                               f"{_err_text(payload)})", status)
        return True

    def list_children(self, parent_id: str) -> list[dict]:
        status, payload = self._call("GET", f"/databases?parent={urllib.parse.quote(parent_id)}")
        if status != 200 or not isinstance(payload, dict):
            raise BackendError(f"Turso could not list databases (HTTP {status}: "
                               f"{_err_text(payload)})", status)
        return list(payload.get("databases", []))

    def freeze(self, name: str) -> None:
        raise BackendError("Turso Cloud has no per-database write block",
                           hint="delete the branch database instead (`pvc branch -d`)")

    def mint_token(self, name: str, read_only: bool = True, expiration: str = "never") -> str:
        auth = "read-only" if read_only else "full-access"
        q = urllib.parse.urlencode({"expiration": expiration, "authorization": auth})
        status, payload = self._call("POST", f"/databases/{name}/auth/tokens?{q}")
        if status != 200 or not isinstance(payload, dict) or "jwt" not in payload:
            raise BackendError(f"Turso could not mint a token for '{name}' (HTTP {status}: "
                               f"{_err_text(payload)})", status)
        return payload["jwt"]

    def cleanup_hint(self, name: str) -> str:
        return f"turso db destroy {name}"
