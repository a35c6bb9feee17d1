"""Multi-step actions the front ends make in one library call: a commit that runs
`pvc check` first (config check.on_commit), the daemon's autosave (add and commit as one
transaction, under the working-tree lock) and the daemon's sync step (porcelain.sync_step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptvc.errors import CheckFailed, ErrorCode
from promptvc.repo import Repo

MARKER = "<<<<<<< ours\nx\n"


def commit(pvc, name: str, text: str, message: str) -> None:
    Path(name).write_text(text)
    assert pvc("add", name).exit_code == 0
    assert pvc("commit", "-m", message).exit_code == 0


# -- check on commit ------------------------------------------------------------------------
@pytest.fixture
def marked(repo, pvc):
    """A committed p.md, now edited to hold a leftover conflict marker."""
    commit(pvc, "p.md", "fine\n", "base")
    Path("p.md").write_text(MARKER)
    return Repo.open(repo)


def test_commit_changes_follows_check_on_commit(marked, pvc):
    before = marked.head()
    assert marked.commit_changes("off by default").message == "off by default"  # no check
    Path("p.md").write_text(MARKER + "y\n")
    assert pvc("config", "check.on_commit", "true").exit_code == 0
    repo = Repo.open(marked.root)
    try:
        head = repo.head()
        with pytest.raises(CheckFailed) as exc:
            repo.commit_changes("checked")
        assert exc.value.error_code is ErrorCode.CHECK
        assert exc.value.message == "pvc check found 1 problem; nothing was committed"
        assert [str(p) for p in exc.value.problems] == [
            "p.md:1: leftover conflict marker '<<<<<<<'"]
        assert repo.head() == head and head != before
        assert repo.commit_changes("anyway", check=False).message == "anyway"
    finally:
        repo.close()
        marked.close()


def test_commit_json_refused_by_the_check_lists_the_problems(marked, pvc):
    import json

    marked.close()
    assert pvc("config", "check.on_commit", "true").exit_code == 0
    r = pvc("commit", "-m", "checked", "--json")
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "check"
    assert err["problems"] == [{"path": "p.md", "line": 1, "code": err["problems"][0]["code"],
                                "message": "leftover conflict marker '<<<<<<<'"}]


def test_check_true_runs_without_config_and_before_the_editor(marked):
    asked = []

    def editor() -> str:
        asked.append(1)
        return "from the editor"

    try:
        with pytest.raises(CheckFailed):
            marked.commit_changes(editor, check=True)
        assert asked == []  # a refused commit never opens the editor
        assert marked.commit_changes(editor).message == "from the editor"  # config: off
        assert asked == [1]
    finally:
        marked.close()


# -- the daemon's autosave --------------------------------------------------------------------
def daemon_for(root: Path):
    from promptvc.daemon.service import Daemon, DaemonOptions

    d = Daemon(root, DaemonOptions(debounce=0.0))
    d.repo = Repo.open(root)
    return d


KILL_MID_AUTOSAVE = """
import os, sys
from pathlib import Path
from promptvc import commits
from promptvc.daemon.service import Daemon, DaemonOptions
from promptvc.repo import Repo

def killed(*args, **kwargs):  # the process dies after the add, before the commit is written
    os._exit(9)

commits.write_commit = killed
d = Daemon(Path.cwd(), DaemonOptions(debounce=0.0))
d.repo = Repo.open(Path.cwd())
d._handle_changes(["new.md", "p.md"])
sys.exit(0)
"""


def test_a_kill_between_add_and_commit_leaves_nothing_half_done(repo, pvc):
    import subprocess
    import sys

    commit(pvc, "p.md", "one\n", "base")
    Path("new.md").write_text("brand new\n")
    Path("p.md").write_text("two\n")
    head = pvc("rev-parse", "HEAD").stdout
    r = subprocess.run([sys.executable, "-c", KILL_MID_AUTOSAVE], cwd=repo,
                       capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    assert pvc("rev-parse", "HEAD").stdout == head
    # neither tracked-but-uncommitted (the add alone) nor committed: as before the autosave
    assert pvc("status", "--short").stdout == " M p.md\n?? new.md\n"
    d = daemon_for(repo)  # the next daemon saves it whole
    try:
        d._handle_changes(["new.md", "p.md"])
        assert d.open_repo.commit("HEAD").message == "autosave: add new.md, edit p.md"
        assert d.state.commits_made == 1
    finally:
        d.open_repo.close()
    assert pvc("status", "--short").stdout == ""


def test_autosave_holds_the_working_tree_lock_from_busy_check_to_commit(repo, pvc, monkeypatch):
    """A `pvc switch` (or pull, restore) takes .pvc/worktree.lock to write working files:
    while the autosave adds and commits, that lock is not free."""
    from promptvc import commits, tracking
    from promptvc.locks import FileLock

    commit(pvc, "p.md", "one\n", "base")
    Path("new.md").write_text("brand new\n")
    Path("p.md").write_text("two\n")
    seen = []

    def lock_free() -> bool:
        probe = FileLock(repo / ".pvc" / "worktree.lock")
        if probe.acquire(0):
            probe.release()
            return True
        return False

    real_add, real_write = tracking.add, commits.write_commit
    monkeypatch.setattr(tracking, "add", lambda *a, **k: (seen.append(("add", lock_free())),
                                                          real_add(*a, **k))[1])
    monkeypatch.setattr(commits, "write_commit", lambda *a, **k: (
        seen.append(("commit", lock_free())), real_write(*a, **k))[1])
    d = daemon_for(repo)
    try:
        d._handle_changes(["new.md", "p.md"])
        assert seen == [("add", False), ("commit", False)]
        assert d.open_repo.commit("HEAD").message == "autosave: add new.md, edit p.md"
        assert lock_free()  # released once the transaction is over
    finally:
        d.open_repo.close()


def test_autosave_waits_while_another_command_updates_the_working_files(repo, pvc):
    from promptvc.locks import FileLock

    commit(pvc, "p.md", "one\n", "base")
    Path("new.md").write_text("brand new\n")
    Path("p.md").write_text("two\n")
    other = FileLock(repo / ".pvc" / "worktree.lock")
    assert other.acquire(0)  # e.g. a `pvc switch` in the middle of writing files
    r = Repo.open(repo)
    try:
        saved = r.autosave(["new.md", "p.md"])
        assert saved.waiting == "another pvc command is updating the working files"
        assert saved.commit is None and "new.md" not in r.tracked()
        other.release()
        saved = r.autosave(["new.md", "p.md"])
        assert saved.waiting is None and saved.added == ["new.md"]
        assert saved.commit is not None and saved.message == "autosave: add new.md, edit p.md"
    finally:
        other.release()
        r.close()


def test_autosave_tracks_the_good_new_files_beside_a_bad_one_and_skips_the_check(repo, pvc):
    """A binary file matching a prompt glob is reported, and the other new files of the same
    burst are still saved; config check.on_commit does not stop an autosave (a backup of
    work in progress, like `git commit --no-verify`)."""
    commit(pvc, "p.md", "one\n", "base")
    assert pvc("config", "check.on_commit", "true").exit_code == 0
    Path("bin.md").write_bytes(b"\x00\x01binary")
    Path("good.md").write_text(MARKER)
    d = daemon_for(repo)
    try:
        d._handle_changes(["bin.md", "good.md"])
        assert d.open_repo.commit("HEAD").message == "autosave: add good.md"
        assert [e.split(" ", 1)[1] for e in d.state.errors] == [
            "cannot add 'bin.md': it is a binary file (it contains NUL bytes)"]
        assert "bin.md" not in d.open_repo.tracked()
    finally:
        d.open_repo.close()


# -- the daemon's sync step -------------------------------------------------------------------
def test_sync_step_waits_during_a_merge_without_touching_the_remote(repo, pvc):
    from promptvc import porcelain

    commit(pvc, "p.md", "one\n", "base")
    assert pvc("switch", "-c", "exp").exit_code == 0
    commit(pvc, "p.md", "exp\n", "exp")
    assert pvc("switch", "main").exit_code == 0
    commit(pvc, "p.md", "main\n", "main")
    assert pvc("merge", "exp").exit_code == 1  # conflicts: a merge in progress
    assert pvc("remote", "add", "origin", "http://127.0.0.1:9").exit_code == 0  # nobody there
    called = []
    r = Repo.open(repo)
    try:
        step = porcelain.sync_step(r, "origin", commit_first=lambda: called.append(1))
        assert (step.outcome, step.waiting, step.conflicts, called) == (
            "waiting", "a merge is in progress (finish it with `pvc merge --continue` or "
            "`--abort`)", [], [])
        assert step.pulled is None and step.pushed is None and not step.updated_work
    finally:
        r.close()


@pytest.mark.sqld
def test_an_old_conflict_does_not_hold_back_the_push_of_a_fetch_only_round(tmp_path, server,
                                                                          pvc):
    """The daemon reported a conflict; the user merged by hand with `pvc pull` and is now
    editing (no autocommit): the merge must still reach the primary, and the old conflict
    is no longer reported."""
    from promptvc.daemon.service import Daemon, DaemonOptions

    url = f"http://localhost:{server.http_port}"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    for args in (("init",), ("remote", "add", "origin", url),
                 ("config", "remote.origin.timeout", "5")):
        assert pvc("-C", str(a), *args).exit_code == 0
    (a / "p.md").write_text("v1\n")
    (a / "q.md").write_text("q\n")
    assert pvc("-C", str(a), "add", "p.md", "q.md").exit_code == 0
    assert pvc("-C", str(a), "commit", "-m", "one").exit_code == 0
    assert pvc("-C", str(a), "push").exit_code == 0
    assert pvc("clone", url, str(b)).exit_code == 0
    (a / "p.md").write_text("a's line\n")
    assert pvc("-C", str(a), "commit", "-m", "a").exit_code == 0
    assert pvc("-C", str(a), "push").exit_code == 0
    (b / "p.md").write_text("b's line\n")
    assert pvc("-C", str(b), "commit", "-m", "b").exit_code == 0

    d = Daemon(b, DaemonOptions(autocommit=False, debounce=0.0))
    d.repo = Repo.open(b)
    try:
        d._setup_remote()
        d._sync()
        assert d.state.conflicts == ["p.md"]
        assert d.state.last_result == ("conflict with origin: p.md (run `pvc pull` to merge "
                                       "by hand)")
        assert (b / "p.md").read_text() == "b's line\n"
        # the user merges by hand, then goes on editing without committing
        assert pvc("-C", str(b), "pull").exit_code == 1
        (b / "p.md").write_text("both lines\n")
        assert pvc("-C", str(b), "merge", "--continue").exit_code == 0
        (b / "q.md").write_text("work in progress\n")
        d._sync()
        assert d.state.last_result == "fetched only: uncommitted changes in the working folder"
        assert d.state.pending_commits == 0  # the merge was pushed
        head = d.open_repo.head()
        assert d.open_repo.get_ref("refs/remotes/origin/main") == head
        assert d.state.conflicts == []
    finally:
        d.open_repo.close()
    assert pvc("-C", str(a), "pull").exit_code == 0
    assert (a / "p.md").read_text() == "both lines\n"
    assert (b / "q.md").read_text() == "work in progress\n"
