"""The sync daemon, run as a real process, against a real sqld."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for as _wait_for

from promptvc.remote.hrana import HranaClient

pytestmark = pytest.mark.sqld
PROCS: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail a test that leaves a thread or a daemon process behind."""
    before = set(threading.enumerate())
    yield
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
            PROCS.clear()
            pytest.fail(f"daemon process {p.pid} was left running")
    PROCS.clear()
    time.sleep(0.05)
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leaked == [], f"leaked threads: {leaked}"


wait_for = functools.partial(_wait_for, timeout=15.0)


def cli(cwd: Path, *args: str, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"pvc {' '.join(args)} failed: {p.stderr}")
    return p


class DaemonProc:
    def __init__(self, root: Path, *args: str):
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptvc", "daemon", "run", "--debounce", "0.2",
             "--interval", "0.5", *args],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        PROCS.append(self.proc)
        wait_for(lambda: (self.state() or {}).get("pid") == self.proc.pid
                 and self.state().get("state") != "starting", what="daemon start")

    def state(self) -> dict | None:
        try:
            return json.loads((self.root / ".pvc" / "daemon.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, out
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def log_messages(root: Path) -> list[str]:
    return [c["message"] for c in json.loads(cli(root, "log", "--json").stdout)]


def two_clones(tmp_path: Path, server) -> tuple[Path, Path, str]:
    url = f"http://localhost:{server.http_port}"
    a = tmp_path / "a"
    a.mkdir()
    cli(a, "init")
    (a / "p.md").write_text("v1\n")
    cli(a, "add", "p.md")
    cli(a, "commit", "-m", "one")
    cli(a, "remote", "add", "origin", url)
    for root in (a,):
        cli(root, "config", "remote.origin.timeout", "2")
        cli(root, "config", "remote.origin.backoff", "0.05")
    cli(a, "push")
    cli(tmp_path, "clone", url, "b")
    b = tmp_path / "b"
    cli(b, "config", "remote.origin.timeout", "2")
    cli(b, "config", "remote.origin.backoff", "0.05")
    return a, b, url


def test_save_in_a_reaches_b_with_no_command(tmp_path, server, canary_token):
    a, b, _ = two_clones(tmp_path, server)
    da, db = DaemonProc(a), DaemonProc(b)
    try:
        (a / "p.md").write_text("v2 from a\n")
        wait_for(lambda: (b / "p.md").read_text() == "v2 from a\n", what="b's file")
        assert log_messages(a)[0] == "autosave: edit p.md"
        assert log_messages(b)[0] == "autosave: edit p.md"
        # and back, with a new file
        (b / "new.prompt").write_text("hello from b\n")
        wait_for(lambda: (a / "new.prompt").exists()
                 and (a / "new.prompt").read_text() == "hello from b\n", what="a's new file")
    finally:
        da.stop()
        db.stop()
    assert cli(a, "fsck").returncode == 0
    assert cli(b, "fsck").returncode == 0


def test_rapid_saves_are_coalesced(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    cli(root, "init")
    d = DaemonProc(root)
    try:
        for i in range(200):
            (root / "p.md").write_text(f"save {i}\n" + "x" * (i % 7) + "\n")
        final = (root / "p.md").read_bytes()
        wait_for(lambda: cli(root, "show", "HEAD:p.md", check=False).stdout.encode() == final,
                 what="final content committed")
        time.sleep(0.5)
        n = len(log_messages(root))
        assert 1 <= n <= 10, n
        assert cli(root, "show", "HEAD:p.md").stdout.encode() == final
    finally:
        d.stop()


def test_rename_into_place_and_swap_files(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    cli(root, "init")
    (root / "p.md").write_text("one\n")
    cli(root, "add", "p.md")
    cli(root, "commit", "-m", "one")
    d = DaemonProc(root)
    try:
        (root / ".p.md.swp").write_text("vim swap")
        tmp = root / "p.md~tmp"
        tmp.write_text("two\n")
        os.replace(tmp, root / "p.md")  # as vim and VS Code save
        wait_for(lambda: cli(root, "show", "HEAD:p.md", check=False).stdout == "two\n",
                 what="rename-into-place commit")
        assert log_messages(root) == ["autosave: edit p.md", "one"]
        (root / "p.md").write_text("two\n")  # a save that changes nothing
        time.sleep(0.8)
        assert len(log_messages(root)) == 2
    finally:
        d.stop()
    assert "p.md~tmp" not in cli(root, "status", "-s").stdout


def test_primary_outage_edits_are_pushed_after(tmp_path, server, canary_token):
    a, b, url = two_clones(tmp_path, server)
    d = DaemonProc(a)
    try:
        server.stop()
        for i in range(3):
            (a / "p.md").write_text(f"offline edit {i}\n")
            wait_for(lambda i=i: cli(a, "show", "HEAD:p.md", check=False).stdout
                     == f"offline edit {i}\n", what="offline commit")
        wait_for(lambda: d.state()["state"] == "offline", what="offline state")
        wait_for(lambda: d.state()["pending_commits"] == 3, what="3 pending commits")
        server.start(server.db_path, host=server.host, http_port=server.http_port,
                     admin_port=server.admin_port, grpc_port=server.grpc_port,
                     die_with_parent=True)
        wait_for(lambda: d.state()["pending_commits"] == 0 and d.state()["state"] == "running",
                 timeout=40, what="push after restart")
    finally:
        d.stop()
    with HranaClient(url) as c:
        assert c.execute("SELECT count(*) FROM commits").rows[0][0] == 4
    cli(b, "pull")
    assert (b / "p.md").read_text() == "offline edit 2\n"


def test_frozen_primary_daemon_stays_responsive(tmp_path, server, canary_token):
    a, _, _ = two_clones(tmp_path, server)
    d = DaemonProc(a, "--metrics-port", str(_free_port()))
    port = int(d.proc.args[d.proc.args.index("--metrics-port") + 1])
    try:
        server.pause()
        (a / "p.md").write_text("while frozen\n")
        wait_for(lambda: d.state()["state"] in ("offline", "error")
                 and d.state()["pending_commits"] >= 1, timeout=20,
                 what="offline state with the edit committed locally")
        t = time.monotonic()
        st = json.loads(cli(a, "daemon", "status", "--json").stdout)
        assert time.monotonic() - t < 3
        assert st["running"] is True and st["pending_commits"] >= 1
        assert "no answer from" in st["last_result"]
        hb = d.state()["heartbeat"]
        wait_for(lambda: d.state()["heartbeat"] != hb, timeout=10, what="heartbeat")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
        assert "pvc_sync_failures_total" in body and "pvc_commits_made_total 1" in body
        server.resume()
        wait_for(lambda: d.state()["state"] == "running" and d.state()["pending_commits"] == 0,
                 timeout=40, what="recovery")
    finally:
        if server.paused:
            server.resume()
        d.stop()


def test_sigkill_mid_sync_then_restart(tmp_path, server):
    a, b, url = two_clones(tmp_path, server)
    for trial in range(4):
        d = DaemonProc(a)
        (a / "p.md").write_text(f"edit {trial}\n" * 500)
        time.sleep(0.3 + 0.15 * trial)
        d.kill()
        assert cli(a, "fsck").returncode == 0
    d = DaemonProc(a)
    try:
        wait_for(lambda: cli(a, "show", "HEAD:p.md", check=False).stdout == "edit 3\n" * 500,
                 what="last edit committed")
        wait_for(lambda: d.state()["pending_commits"] == 0 and d.state()["syncs"] > 0,
                 timeout=30, what="pushed")
    finally:
        d.stop()
    assert cli(a, "fsck").returncode == 0
    cli(b, "pull")
    assert (b / "p.md").read_text() == "edit 3\n" * 500
    assert cli(b, "fsck").returncode == 0


def test_conflict_is_reported_and_file_left_alone(tmp_path, server):
    a, b, _ = two_clones(tmp_path, server)
    (a / "p.md").write_text("a's line\n")
    cli(a, "commit", "-m", "a")
    cli(a, "push")
    (b / "p.md").write_text("b's line\n")
    d = DaemonProc(b)
    try:
        wait_for(lambda: d.state()["conflicts"] == ["p.md"], timeout=20, what="conflict")
        assert (b / "p.md").read_text() == "b's line\n"
        st = cli(b, "daemon", "status").stdout
        assert "conflict: p.md" in st
    finally:
        d.stop()
    assert cli(b, "status", "-s").stdout == ""


def test_one_daemon_per_repository_and_cli_beside_it(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    cli(root, "init")
    d = DaemonProc(root)
    try:
        p = cli(root, "daemon", "run", check=False)
        assert p.returncode == 1
        assert p.stderr == (f"error: a pvc daemon is already running for {root}\n"
                            "hint: see `pvc daemon status`; stop it with `pvc daemon stop`\n")
        (root / "x.txt").write_text("by hand\n")
        cli(root, "add", "x.txt")
        wait_for(lambda: "x.txt" in cli(root, "show", "--stat", "HEAD", check=False).stdout,
                 what="commit of x.txt")
        assert cli(root, "fsck").returncode == 0
    finally:
        out = d.stop()
    assert "daemon stopped" in out


def test_start_stop_status_commands(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    cli(root, "init")
    assert cli(root, "daemon", "status").stdout == "pvc daemon: not running\n"
    out = cli(root, "daemon", "start").stdout
    assert out.startswith("pvc daemon started (pid ")
    pid = int(out.split("pid ")[1].split(")")[0])
    try:
        assert cli(root, "daemon", "start", check=False).stderr.startswith(
            f"error: the daemon is already running (pid {pid})")
        st = json.loads(cli(root, "daemon", "status", "--json").stdout)
        assert st["running"] is True and st["pid"] == pid
    finally:
        assert cli(root, "daemon", "stop").stdout == f"pvc daemon stopped (pid {pid})\n"
    assert cli(root, "daemon", "stop").stdout == "the daemon is not running\n"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
