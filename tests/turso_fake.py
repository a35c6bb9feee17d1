"""A local stand-in for the Turso Platform API, backed by a REAL sqld.

It implements the documented contract (shared/TURSO.md, "Turso Platform API") for one
organisation, and nothing more:

- ``POST   /v1/organizations/{org}/databases``  ``{"name", "group", "seed": {"type":
  "database", "name": PARENT, "timestamp"?}}`` -> 200 ``{"database": {"DbId", "Hostname",
  "Name"}}``; 409 when the name exists; 400 when the group or the seed parent does not exist
  (or the body is malformed).
- ``DELETE /v1/organizations/{org}/databases/{db}`` -> 200 ``{"database": name}``; 404.
- ``GET    /v1/organizations/{org}/databases[?parent=<db id>]`` -> ``{"databases": [...]}``.
- ``POST   /v1/organizations/{org}/databases/{db}/auth/tokens?expiration=..&authorization=
  full-access|read-only`` -> ``{"jwt": "..."}``; 404 when the database does not exist.
- Every request without ``Authorization: Bearer <platform token>`` gets 401. Errors are
  ``{"error": "..."}``.

A database is a sqld namespace: creating one seeded from PARENT forks PARENT's namespace
(``SqldServer.fork_namespace``); deleting one deletes the namespace. ``Hostname`` is
``{name}.localhost:{sqld http port}``, so ``libsql://{Hostname}?tls=0`` reaches the real
database. Every request is recorded (:attr:`TursoFake.requests`) for assertions, and a test
can inject a canned answer for the next matching request (:meth:`TursoFake.fail_next`) or run
a hook after a successful create (:attr:`TursoFake.after_create`).
"""

from __future__ import annotations

import http.server
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from promptvc.remote.sqld import SqldServer

__all__ = ["TursoFake", "Recorded"]

_NAME = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str                      # without the query string
    query: dict[str, str]          # single-valued query parameters
    headers: dict[str, str]        # header names lower-cased
    body: Any                      # decoded JSON, raw text, or None
    raw_query: str = ""


@dataclass
class _Db:
    name: str
    db_id: str
    hostname: str
    group: str
    parent_id: str | None = None
    parent_name: str | None = None
    seeded_at: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"DbId": self.db_id, "Hostname": self.hostname, "Name": self.name,
                               "group": self.group, "type": "logical", "primaryRegion": "local"}
        if self.parent_id is not None:
            out["parent"] = {"id": self.parent_id, "name": self.parent_name,
                             "branched_at": self.seeded_at}
        return out


@dataclass
class _Injected:
    method: str
    path_re: re.Pattern
    status: int
    body: Any


@dataclass
class TursoFake:
    sqld: SqldServer
    org: str = "acme"
    token: str = field(default_factory=lambda: "plat-" + secrets.token_hex(16))
    groups: set[str] = field(default_factory=lambda: {"default"})
    requests: list[Recorded] = field(default_factory=list)
    minted: list[dict] = field(default_factory=list)
    after_create: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.databases: dict[str, _Db] = {}
        self._injected: list[_Injected] = []
        self._lock = threading.Lock()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "TursoFake":
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="turso-fake",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "TursoFake":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test helpers ----------------------------------------------------------------------
    def hostname_of(self, name: str) -> str:
        return f"{name}.localhost:{self.sqld.http_port}"

    def libsql_url(self, name: str) -> str:
        return f"libsql://{self.hostname_of(name)}?tls=0"

    def http_url(self, name: str) -> str:
        return f"http://{self.hostname_of(name)}"

    def add_database(self, name: str, *, create: bool = True, db_id: str | None = None,
                     group: str = "default") -> dict:
        """Register an existing (top-level) database; create its namespace unless told not to."""
        if create:
            self.sqld.create_namespace(name)
        db = _Db(name, db_id or f"db-{name}", self.hostname_of(name), group)
        with self._lock:
            self.databases[name] = db
        return db.to_json()

    def fail_next(self, method: str, path_regex: str, status: int, body: Any = None) -> None:
        """Answer the next METHOD request whose path (after /v1/organizations/{org}) matches
        PATH_REGEX (re.fullmatch) with STATUS and BODY, without doing anything."""
        if body is None:
            body = {"error": f"injected {status}"}
        with self._lock:
            self._injected.append(_Injected(method, re.compile(path_regex), status, body))

    def calls(self, method: str | None = None, path_suffix: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered by method and by the path after the org."""
        prefix = f"/v1/organizations/{self.org}"
        out = []
        for r in list(self.requests):
            if method and r.method != method:
                continue
            if path_suffix is not None:
                if not r.path.startswith(prefix) or not re.fullmatch(path_suffix,
                                                                     r.path[len(prefix):]):
                    continue
            out.append(r)
        return out

    # -- the API ---------------------------------------------------------------------------
    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query,
                                                             keep_blank_values=True).items()}
        rec = Recorded(h.command, parts.path, query,
                       {k.lower(): v for k, v in h.headers.items()}, body, parts.query)
        with self._lock:
            self.requests.append(rec)
        try:
            status, payload = self._route(rec)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake or sqld: answer 500
            status, payload = 500, {"error": f"fake failed: {exc}"}
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, rec: Recorded) -> tuple[int, Any]:
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "could not authenticate: invalid or missing token"}
        prefix = f"/v1/organizations/{self.org}"
        if not (rec.path == prefix or rec.path.startswith(prefix + "/")):
            return 404, {"error": "organization not found"}
        rest = rec.path[len(prefix):]
        with self._lock:
            for i, inj in enumerate(self._injected):
                if inj.method == rec.method and inj.path_re.fullmatch(rest):
                    del self._injected[i]
                    return inj.status, inj.body
        if rest == "/databases" and rec.method == "POST":
            return self._create(rec.body)
        if rest == "/databases" and rec.method == "GET":
            return self._list(rec.query.get("parent"))
        m = re.fullmatch(r"/databases/([^/]+)", rest)
        if m and rec.method == "DELETE":
            return self._delete(urllib.parse.unquote(m.group(1)))
        if m and rec.method == "GET":
            db = self.databases.get(urllib.parse.unquote(m.group(1)))
            return (200, {"database": db.to_json()}) if db else (404, {"error": "not found"})
        m = re.fullmatch(r"/databases/([^/]+)/auth/tokens", rest)
        if m and rec.method == "POST":
            return self._token(urllib.parse.unquote(m.group(1)), rec.query)
        return 404, {"error": f"no route {rec.method} {rest}"}

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return 400, {"error": "invalid request body: name is required"}
        name = body["name"]
        if not _NAME.fullmatch(name):
            return 400, {"error": f"invalid database name '{name}'"}
        group = body.get("group")
        if group not in self.groups:
            return 400, {"error": f"group {group} not found"}
        seed = body.get("seed")
        with self._lock:
            if name in self.databases:
                return 409, {"error": f"database {name} already exists"}
        parent: _Db | None = None
        if seed is not None:
            if not isinstance(seed, dict) or seed.get("type") != "database":
                return 400, {"error": "seed.type must be 'database'"}
            # Turso's own CLI sends seed.value; the documented field is seed.name
            pname = seed.get("name") or seed.get("value")
            parent = self.databases.get(pname) if isinstance(pname, str) else None
            if parent is None:
                return 400, {"error": f"seed database {pname} not found"}
            self.sqld.fork_namespace(parent.name, name)
        else:
            self.sqld.create_namespace(name)
        db = _Db(name, "db-" + secrets.token_hex(8), self.hostname_of(name), group,
                 parent.db_id if parent else None, parent.name if parent else None,
                 (seed or {}).get("timestamp"))
        with self._lock:
            self.databases[name] = db
        if self.after_create is not None:
            self.after_create(name)
        return 200, {"database": {"DbId": db.db_id, "Hostname": db.hostname, "Name": db.name}}

    def _delete(self, name: str) -> tuple[int, Any]:
        with self._lock:
            db = self.databases.pop(name, None)
        if db is None:
            return 404, {"error": f"database {name} not found"}
        self.sqld.delete_namespace(name)
        return 200, {"database": name}

    def _list(self, parent: str | None) -> tuple[int, Any]:
        with self._lock:
            dbs = list(self.databases.values())
        if parent is not None:
            dbs = [d for d in dbs if d.parent_id == parent]
        return 200, {"databases": [d.to_json() for d in dbs]}

    def _token(self, name: str, query: dict[str, str]) -> tuple[int, Any]:
        if name not in self.databases:
            return 404, {"error": f"database {name} not found"}
        auth = query.get("authorization", "full-access")
        if auth not in ("full-access", "read-only"):
            return 400, {"error": f"invalid authorization '{auth}'"}
        jwt = "fakejwt." + secrets.token_urlsafe(24)
        self.minted.append({"database": name, "authorization": auth,
                            "expiration": query.get("expiration"), "jwt": jwt})
        return 200, {"jwt": jwt}
