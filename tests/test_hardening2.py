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
