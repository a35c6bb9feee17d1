"""Hardening 2 (issue 14): names pvc cannot support, damaged databases, bounds and messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptvc.paths import MAX_COMPONENT_BYTES, path_problem


# -- 1. names -------------------------------------------------------------------------------
LINE_BREAKS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("ch", LINE_BREAKS + ["\x00", "\x01", "\x1b", "\x7f", "\x9b"])
def test_every_line_break_and_control_character_is_refused(ch):
    assert len(f"a{ch}b".splitlines()) > 1 or ch not in LINE_BREAKS
    assert path_problem(f"dir/a{ch}b.md") is not None


@pytest.mark.parametrize("path, problem", [
    ("", "it is empty"),
    ("/abs.md", "it is absolute"),
    ("a/../b.md", "it has a '..' component"),
    ("./a.md", "it has a '.' component"),
    ("a//b.md", "it has an empty component ('//' or a trailing '/')"),
    ("a/", "it has an empty component ('//' or a trailing '/')"),
    (".pvc/config", "it is inside .pvc/, pvc's own folder"),
    (".PVC/x.md", "it is inside .pvc/, pvc's own folder"),
    ("a\\..\\b.md", "it contains a backslash (a path separator on Windows)"),
    ("a\udcffb.md", "it is not valid UTF-8"),
])
def test_path_problems(path, problem):
    assert path_problem(path) == problem


def test_component_length_leaves_room_for_the_temporary_name(tmp_path):
    ok = "n" * MAX_COMPONENT_BYTES
    assert path_problem(ok) is None
    assert path_problem("n" * (MAX_COMPONENT_BYTES + 1)).startswith("the name 'nnnn")
    # the longest accepted name really can be written through its temporary name
    (tmp_path / f".{ok}.pvc-tmp").write_text("x")
    assert path_problem("é" * (MAX_COMPONENT_BYTES // 2 + 1)) is not None  # bytes, not chars


def test_add_refuses_form_feed_name_and_repo_keeps_working(repo, pvc):
    Path("a\x0cb.md").write_text("x\n")
    Path("good.md").write_text("g\n")
    r = pvc("add", "a\x0cb.md")
    assert r.exit_code == 1
    assert r.stderr == ("error: pvc cannot store the file name 'a\\x0cb.md': it contains a line "
                        "break (\\x0c)\nhint: rename the file (pvc refuses names it could not "
                        "check out on every machine)\n")
    r = pvc("add", ".")  # found under a folder: the same rule
    assert r.exit_code == 1
    assert r.stderr.startswith("error: pvc cannot store the file name 'a\\x0cb.md'")
    os.remove("a\x0cb.md")
    assert pvc("add", "good.md").exit_code == 0
    assert pvc("commit", "-m", "ok").exit_code == 0
    assert pvc("status").exit_code == 0
    assert pvc("fsck").exit_code == 0


def test_long_name_refused_before_commit(repo, pvc):
    name = "n" * 250 + ".md"
    Path(name).write_text("x\n")
    r = pvc("add", name)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: pvc cannot store the file name '{name}': the name "
                               f"'{'n' * 40}...' is longer than 246 bytes (pvc needs 9 more to "
                               "write it safely)\n")
    assert pvc("log").stdout == ""


def test_mv_to_an_unstorable_name_refused(repo, pvc):
    Path("a.md").write_text("x\n")
    pvc("add", "a.md")
    pvc("commit", "-m", "a")
    r = pvc("mv", "a.md", "b\u2028c.md")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: pvc cannot store the file name 'b\\u2028c.md': it "
                               "contains a line break (\\u2028)\n")
    assert Path("a.md").exists() and not Path("b\u2028c.md").exists()


def test_commit_files_refuses_bad_names(repo, pvc):
    from promptvc.errors import PathError
    from promptvc.repo import Repo

    r = Repo.open()
    try:
        for bad in ("x\fy.md", "../out.md", "n" * 251):
            with pytest.raises(PathError):
                r.commit_files({bad: b"x\n"}, "m", author="A <a@x>")
        assert r.head() is None
    finally:
        r.close()


# -- 4. a damaged database is never replaced --------------------------------------------------
def _committed(pvc):
    Path("p.md").write_text("v1\n")
    pvc("add", "p.md")
    assert pvc("commit", "-m", "v1").exit_code == 0


@pytest.mark.parametrize("damage, what", [
    ("empty", "is empty (0 bytes); the repository is damaged and pvc will not replace it"),
    ("missing", "is missing; the repository is damaged and pvc will not create a new, empty one"),
    ("garbage", "is not a SQLite database (its first bytes are wrong); the repository is damaged"),
])
def test_damaged_database_is_reported_not_replaced(repo, pvc, damage, what):
    _committed(pvc)
    db = Path(".pvc/pvc.db")
    for side in (".pvc/pvc.db-wal", ".pvc/pvc.db-shm"):
        Path(side).unlink(missing_ok=True)
    if damage == "empty":
        db.write_bytes(b"")
    elif damage == "missing":
        db.unlink()
    else:
        db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes() if db.exists() else None
    for cmd in (("fsck",), ("status",), ("log",), ("commit", "-m", "x")):
        r = pvc(*cmd)
        assert r.exit_code == 1, (cmd, r.output)
        assert r.stderr.startswith(f"error: the pvc database {repo / '.pvc' / 'pvc.db'} {what}")
        assert "pvc fsck --repair" in r.stderr
        assert "no problems found" not in r.output
    assert (db.read_bytes() if db.exists() else None) == before


def test_repair_without_remote_says_so(repo, pvc):
    _committed(pvc)
    Path(".pvc/pvc.db").write_bytes(b"")
    r = pvc("fsck", "--repair")
    assert r.exit_code == 1
    assert r.stderr == ("error: the repository database is damaged and the repository has no "
                        "remote to restore it from\nhint: restore .pvc/pvc.db from a backup; your "
                        "working files are intact\n")


@pytest.mark.sqld
def test_repair_rebuilds_an_empty_database_from_the_remote(tmp_path, pvc, monkeypatch,
                                                           sqld_namespace):
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    pvc("init")
    pvc("remote", "add", "origin", sqld_namespace.url)
    _committed(pvc)
    assert pvc("push").exit_code == 0
    log = pvc("log", "--oneline").stdout
    Path("p.md").write_text("v2 not committed\n")
    Path(".pvc/pvc.db").write_bytes(b"")
    r = pvc("fsck", "--repair")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[1:] == [
        "rebuilt the database from origin: 1 commit, 1 branch; the damaged file is kept as "
        "pvc.db.damaged-1",
        "your working files were not touched; `pvc status` shows how they differ"]
    assert Path(".pvc/pvc.db.damaged-1").read_bytes() == b""
    assert pvc("log", "--oneline").stdout == log
    assert Path("p.md").read_text() == "v2 not committed\n"
    assert "modified:   p.md" in pvc("status").stdout
    assert pvc("fsck").exit_code == 0


# -- 3. journaled working-tree updates (deterministic kill points) --------------------------
KILL_AFTER = '''
import os, sys
from promptvc import repo as R
n = int(sys.argv[1]); real = R.Repo.write_work_file; count = [0]
def write(self, rel, data):
    if count[0] == n:
        os._exit(9)          # like SIGKILL: no cleanup, no rollback code runs
    count[0] += 1
    real(self, rel, data)
R.Repo.write_work_file = write
from promptvc.cli._common import run_main
from promptvc.cli.main import cli
run_main(cli, sys.argv[2:])
'''


def _kill_after(n: int, *args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", KILL_AFTER, str(n), *args],
                          capture_output=True, text=True)


def _two_branches(pvc, n: int = 6):
    for i in range(n):
        Path(f"f{i}.md").write_text(f"base {i}\nmiddle\nend {i}\n")
    pvc("add", ".")
    pvc("commit", "-m", "base")
    pvc("branch", "feature")
    for i in range(n):
        Path(f"f{i}.md").write_text(f"base {i}\nmiddle\nmain end {i}\n")
    r = pvc("commit", "-m", "main")
    assert r.exit_code == 0, r.output
    pvc("switch", "feature")
    for i in range(n):
        Path(f"f{i}.md").write_text(f"feature base {i}\nmiddle\nend {i}\n")
    assert pvc("commit", "-m", "feature").exit_code == 0
    pvc("switch", "main")


def _files():
    return {p.name: p.read_text() for p in Path(".").glob("*.md")}


@pytest.mark.parametrize("args, what", [(("merge", "feature"), "merge"),
                                        (("switch", "feature"), "switching to 'feature'")])
def test_killed_update_is_rolled_back_by_the_next_command(repo, pvc, args, what):
    _two_branches(pvc)
    before, head = _files(), pvc("log", "--oneline").stdout
    p = _kill_after(3, *args)
    assert p.returncode == 9
    assert _files() != before  # three files of the new state were written, HEAD did not move
    r = pvc("status")
    assert r.exit_code == 0
    assert r.stderr == (f"note: the interrupted {what} was rolled back (3 working files "
                        "updated)\n")
    assert r.stdout.splitlines()[:2] == [
        "On branch main", f"Note: the interrupted {what} was rolled back (3 working files "
        "updated)"]
    assert _files() == before
    assert pvc("log", "--oneline").stdout == head
    assert not Path(".pvc/worktree.journal").exists()
    assert pvc("fsck").exit_code == 0
    r = pvc(*args)  # and it simply runs again
    assert r.exit_code == 0, r.output
    assert "Note:" not in pvc("status").stdout  # the note lasts until the next update


KILL_AT_COMMIT = '''
import os, sys
from promptvc.store import db as D
real = D.Store._exec
def execute(self, sql, args=()):
    if sql == "COMMIT":      # the command's first commit: its working-file update
        os._exit(9)          # every file written, the commit not yet made
    return real(self, sql, args)
D.Store._exec = execute
from promptvc.cli._common import run_main
from promptvc.cli.main import cli
run_main(cli, sys.argv[1:])
'''


@pytest.mark.parametrize("args, what", [(("merge", "feature"), "merge"),
                                        (("switch", "feature"), "switching to 'feature'")])
def test_killed_just_before_the_commit_is_rolled_back(repo, pvc, args, what):
    """Every working file is written and the database commit is the next step: the
    journal must still be there (a merge once settled it inside its outer transaction, so
    a kill here left the new files under the old HEAD)."""
    import subprocess
    import sys

    _two_branches(pvc)
    before, head = _files(), pvc("log", "--oneline").stdout
    p = subprocess.run([sys.executable, "-c", KILL_AT_COMMIT, *args], capture_output=True,
                       text=True)
    assert p.returncode == 9, p.stderr
    assert _files() != before
    assert Path(".pvc/worktree.journal").exists()
    r = pvc("status")
    assert r.stderr == f"note: the interrupted {what} was rolled back (6 working files updated)\n"
    assert _files() == before
    assert pvc("log", "--oneline").stdout == head
    assert pvc("fsck").exit_code == 0


def test_killed_restore_is_finished_by_the_next_command(repo, pvc):
    _two_branches(pvc)
    committed = _files()
    for i in range(6):
        Path(f"f{i}.md").write_text(f"dirty {i}\n")
    assert _kill_after(2, "restore", ".").returncode == 9
    r = pvc("status")
    assert r.stderr == "note: the interrupted restore was finished (4 working files updated)\n"
    assert _files() == committed


def test_failed_write_rolls_back_at_once(repo, pvc, monkeypatch):
    """A write that fails (a full disk) leaves the old state and no temporary file."""
    import errno

    _two_branches(pvc)
    before = _files()
    count = [0]
    real_open = open

    def full_open(path, mode="r", *a, **k):
        if "w" in mode and str(path).endswith(".pvc-tmp"):
            count[0] += 1
            if count[0] == 3:
                fh = real_open(path, mode, *a, **k)
                fh.close()
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    with monkeypatch.context() as m:
        m.setattr("builtins.open", full_open)
        r = pvc("switch", "feature")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot write 'f2.md': No space left on device\nhint: free some "
                        "space (or fix the permissions) and run the command again; nothing "
                        "else was changed\n")
    assert _files() == before
    assert not list(Path(".").glob(".*.pvc-tmp"))
    assert pvc("status").stdout.startswith("On branch main\n")


def test_restore_on_a_full_disk(repo, pvc, monkeypatch):
    import errno

    Path("p.md").write_text("v1\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "v1")
    Path("p.md").write_text("edited\n")
    real_replace = os.replace

    def full(src, dst):
        if str(src).endswith(".pvc-tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", full)
        r = pvc("restore", "p.md")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: cannot write 'p.md': No space left on device\n")
    assert "internal error" not in r.output
    assert not Path(".p.md.pvc-tmp").exists()
    assert Path("p.md").read_text() == "edited\n"


# -- 8. the daemon never finishes a user's merge ----------------------------------------------
@pytest.mark.timeout(60)
def test_daemon_waits_during_a_merge(tmp_path):
    import subprocess
    import sys

    from tests.conftest import wait_for
    from tests.test_daemon import DaemonProc, cli

    root = tmp_path / "r"
    root.mkdir()
    cli(root, "init")
    (root / "p.md").write_text("base\n")
    cli(root, "add", "p.md")
    cli(root, "commit", "-m", "base")
    cli(root, "branch", "other")
    (root / "p.md").write_text("main\n")
    cli(root, "commit", "-m", "main")
    cli(root, "switch", "other")
    (root / "p.md").write_text("other\n")
    cli(root, "commit", "-m", "other")
    cli(root, "switch", "main")
    assert cli(root, "merge", "other", check=False).returncode == 1  # conflicts
    d = DaemonProc(root)
    try:
        (root / "p.md").write_text("resolved\n")  # the user fixed the markers
        wait_for(lambda: (d.state() or {}).get("waiting"), what="daemon waiting")
        assert d.state()["waiting"] == ("a merge is in progress (finish it with `pvc merge "
                                        "--continue` or `--abort`)")
        st = cli(root, "daemon", "status").stdout
        assert "waiting: a merge is in progress" in st
        assert _messages(root) == ["main", "base"]
        r = cli(root, "merge", "--continue", check=False)
        assert r.returncode == 0, r.stderr
    finally:
        d.stop()
    msgs = _messages(root)
    assert msgs[0].startswith("Merge") and "autosave" not in " ".join(msgs)
    assert subprocess.run([sys.executable, "-m", "promptvc", "fsck"], cwd=root).returncode == 0


def _messages(root):
    import json

    from tests.test_daemon import cli

    return [c["message"] for c in json.loads(cli(root, "log", "--json").stdout)]


def test_commit_changes_refuses_to_conclude_merge_for_automatic_committers(repo, pvc):
    from promptvc.errors import MergeError
    from promptvc.repo import Repo

    Path("p.md").write_text("base\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "base")
    pvc("branch", "o")
    Path("p.md").write_text("main\n")
    pvc("commit", "-m", "main")
    pvc("switch", "o")
    Path("p.md").write_text("o\n")
    pvc("commit", "-m", "o")
    pvc("switch", "main")
    assert pvc("merge", "o").exit_code == 1
    Path("p.md").write_text("fixed\n")
    r = Repo.open()
    try:
        with pytest.raises(MergeError):
            r.commit_changes("autosave", conclude_merge=False)
        assert r.store.get_state("MERGE_HEAD")
    finally:
        r.close()


# -- 9. bounds and messages -------------------------------------------------------------------
@pytest.mark.parametrize("key, value, why", [
    ("remote.origin.timeout", "-5", "is out of range (0.1 to 3600)"),
    ("remote.origin.timeout", "soon", "is not a number"),
    ("remote.origin.retries", "0", "is out of range (1 to 100)"),
    ("core.max_chain_length", "0", "is out of range (1 to 100000)"),
])
def test_bad_settings_refused_when_set(repo, pvc, key, value, why):
    pvc("remote", "add", "origin", "http://localhost:1")
    r = pvc("config", "--", key, value)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: config value {key} = '{value}' {why}\n")
    assert pvc("config", key).stdout != f"{value}\n"


def test_bad_setting_in_the_file_refused_when_read(repo, pvc):
    pvc("remote", "add", "origin", "http://localhost:1")
    cfg = Path(".pvc/config")
    cfg.write_text(cfg.read_text().replace("url = http://localhost:1",
                                           "url = http://localhost:1\ntimeout = -5"))
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: config value remote.origin.timeout = '-5' in "
                               f"{repo / '.pvc' / 'config'} is out of range (0.1 to 3600)\n")


def test_one_deadline_for_all_network_calls_of_a_command():
    import time

    from promptvc.remote.remotes import Remote

    r = Remote("origin", "http://localhost:1", timeout=10).with_deadline()
    first = r.deadline()
    branch = r.for_database("http://b.localhost:1")
    assert branch.deadline_at == r.deadline_at
    assert branch.deadline() <= r.deadline_at
    assert r.with_deadline() is r  # a second call keeps the first deadline
    assert first <= time.monotonic() + 10


def test_truncated_database_hint_is_not_fsck(repo, pvc):
    _committed(pvc)
    db = Path(".pvc/pvc.db")
    data = db.read_bytes()
    for side in (".pvc/pvc.db-wal", ".pvc/pvc.db-shm"):
        Path(side).unlink(missing_ok=True)
    db.write_bytes(data[:100])
    r = pvc("fsck")
    assert r.exit_code == 1
    assert "run `pvc fsck`" not in r.stderr
    assert "pvc fsck --repair" in r.stderr


# -- 2. the one HTTP transport: redaction and proxies -----------------------------------------
@pytest.mark.parametrize("text, secret, expect", [
    ('{"error": "you sent Authorization: Bearer abc.def.ghi-123456"}', None,
     '{"error": "you sent Authorization: Bearer ***"}'),
    ("header authorization=Basic c2VjcmV0a2V5MTIz", None, "header authorization=Basic ***"),
    ("token eyJhbGciOiJFZERTQSJ9.eyJhIjoicncifQ.c2ln in body", None, "token *** in body"),
    ("GET /x?authToken=s3cr3t&y=1", None, "GET /x?authToken=***&y=1"),
    ("echo: my-own-secret-value", "my-own-secret-value", "echo: ***"),
    ("Authorization forbidden: bad scope", None, "Authorization forbidden: bad scope"),
])
def test_redact(text, secret, expect):
    from promptvc.remote.http import redact

    assert redact(text, [secret]) == expect


def test_proxies_from_the_environment(monkeypatch):
    from promptvc.remote.http import HttpTransport, proxy_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert proxy_for("https", "db-org.turso.io") == "http://proxy.example:3128"
    assert proxy_for("https", "x.internal.example") is None
    assert proxy_for("https", "localhost") is None  # loopback never goes through a proxy
    assert proxy_for("https", "ns.localhost") is None
    assert proxy_for("https", "127.0.0.1") is None
    assert proxy_for("http", "db-org.turso.io") is None  # no HTTP_PROXY set
    t = HttpTransport("https://db-org.turso.io", authorization="Bearer secret-token-1")
    assert t.secrets == ["Bearer secret-token-1", "secret-token-1"]
    assert t.redact("x Bearer secret-token-1 y") == "x Bearer *** y"


def test_transport_deadline_bounds_every_request():
    from promptvc.remote.http import Deadline, HttpTransport, TimedOut

    d = Deadline(0)
    t = HttpTransport("http://127.0.0.1:9", timeout=30, deadline=d)
    with pytest.raises(TimedOut) as ei:
        t.request("GET", "/")
    assert ei.value.message == "no answer from 127.0.0.1:9: the command's deadline of 0s has passed"
    assert t.requests == 0  # nothing was sent
