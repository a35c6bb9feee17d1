"""Shared fixtures. Every test runs with a scrubbed environment (no PVC_*, XDG_*, GIT_*,
TURSO_* or HOME of the developer leaks in) and a fixed author."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.sqld_harness"]  # sqld_binary, sqld_server, sqld_namespace, jwt_sqld

ROOT = Path(__file__).resolve().parent.parent
# the sqld binary extracted by scripts/install-sqld lives in the real user cache
REAL_CACHE = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path_factory):
    for key in list(os.environ):
        if key.startswith(("PVC_", "XDG_", "GIT_", "TURSO_")) and key != "PVC_REQUIRE_SQLD":
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", REAL_CACHE)
    monkeypatch.setenv("PVC_AUTHOR", "Test User <test@example.com>")
    monkeypatch.setenv("RUST_LOG", "off")
    yield


# Tokens handed to pvc during the run. Nothing pvc writes may contain one: at the end of the
# session every file the run wrote (repositories, logs, replicas, daemon state, outboxes)
# is searched, and the session fails if a token shows up.
SECRETS: set[str] = set()


@pytest.fixture
def canary_token(monkeypatch):
    """Put a recognisable token in TURSO_AUTH_TOKEN (sqld without auth ignores it)."""
    import uuid

    token = f"canary-token-{uuid.uuid4().hex}"
    SECRETS.add(token)
    monkeypatch.setenv("TURSO_AUTH_TOKEN", token)
    return token


def find_leaks(base: Path, secrets: set[str]) -> list[str]:
    """Files under BASE that contain one of SECRETS."""
    needles = [s.encode() for s in secrets]
    leaks = []
    for path in base.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 64 * 2**20:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if path.name == "credentials" or path.name.endswith(".token"):
            continue  # where a test stores a token on purpose
        if any(n in data for n in needles):
            leaks.append(str(path))
    return leaks


def pytest_sessionfinish(session, exitstatus):
    if not SECRETS:
        return
    try:
        base = session.config._tmp_path_factory.getbasetemp()
    except Exception:  # noqa: BLE001 - no tmp dirs were made
        return
    leaks = find_leaks(Path(base), SECRETS)
    if leaks:
        print("\nTOKEN LEAK: a token handed to pvc was found in:\n  " + "\n  ".join(leaks))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def wait_for(cond, timeout: float = 15.0, step: float = 0.05, what: str = "condition"):
    """Poll COND until it returns something true (returned), or fail after TIMEOUT seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server(sqld_binary, tmp_path):
    """A sqld of this test's own (tests that stop, pause or restart their primary)."""
    from tests.sqld_harness import start_sqld

    srv = start_sqld(sqld_binary, tmp_path / "srv")
    yield srv
    if srv.paused:
        srv.resume()
    srv.stop()


@pytest.fixture
def repo_dir(tmp_path, monkeypatch):
    """An empty folder, made the current directory."""
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


@dataclass
class Result:
    exit_code: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: str, input: bytes | str | None = None) -> Result:
    """Run the CLI in-process through its real entry point (exit codes, error text)."""
    from click.testing import CliRunner

    from promptvc.cli._common import run_main
    from promptvc.cli.main import cli

    runner = CliRunner()
    code = 0
    with runner.isolation(input=input) as streams:
        try:
            run_main(cli, list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, out, err)


@pytest.fixture
def pvc():
    return invoke


@pytest.fixture
def repo(repo_dir, pvc):
    """An initialised repository in the current directory."""
    assert pvc("init").exit_code == 0
    return repo_dir


def run_pvc(*args: str, cwd: Path, env: dict | None = None, input: bytes | None = None):
    """Run pvc in a subprocess (real process, real stdout bytes)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, env=full_env,
                          input=input, capture_output=True)
