"""The porcelain layer (one function per user action) and the small bugs found beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptvc import porcelain
from promptvc.errors import ErrorCode, RemoteError
from promptvc.repo import Repo
from promptvc.store import BranchDbRow


def commit(pvc, name: str, text: str, message: str) -> None:
    Path(name).write_text(text)
    assert pvc("add", name).exit_code == 0
    assert pvc("commit", "-m", message).exit_code == 0


@pytest.fixture
def two_branches(repo, pvc):
    commit(pvc, "p.md", "one\n\ntwo\n", "base")
    assert pvc("branch", "exp").exit_code == 0
    assert pvc("switch", "exp").exit_code == 0
    commit(pvc, "p.md", "one\n\nTWO\n", "exp edit")
    assert pvc("switch", "main").exit_code == 0
    return repo


@pytest.fixture
def mapped_without_backend(two_branches, pvc):
    """Branch exp recorded as having a database on origin, whose remote has no backend
    (e.g. configured on another machine with --admin-url, here without)."""
    assert pvc("remote", "add", "origin", "http://127.0.0.1:9").exit_code == 0
    repo = Repo.open(two_branches)
    repo.store.put_branch_db(BranchDbRow("origin", "exp", "default-exp-abc123",
                                         "http://default-exp-abc123.localhost:9", "main",
                                         "2026-01-01T00:00:00Z", "active"))
    repo.close()
    return two_branches


# -- small bugs ---------------------------------------------------------------------------------
def test_freeze_branch_db_without_a_backend_is_a_clear_error(mapped_without_backend):
    from promptvc.remote.branch_dbs import freeze_branch_db
    from promptvc.remote.remotes import get_remote

    repo = Repo.open(mapped_without_backend)
    try:
        with pytest.raises(RemoteError) as exc:
            freeze_branch_db(repo, get_remote(repo.config, "origin"), "exp")
        assert exc.value.error_code is ErrorCode.NO_BACKEND
        assert exc.value.message == ("remote 'origin' has no branch-database backend, so the "
                                     "database default-exp-abc123 of branch 'exp' cannot be "
                                     "frozen")
        assert repo.store.branch_db("origin", "exp").state == "active"
    finally:
        repo.close()


def test_merge_freeze_branch_without_a_backend_refuses_before_merging(mapped_without_backend,
                                                                      pvc):
    before = pvc("rev-parse", "HEAD").stdout
    r = pvc("merge", "exp", "--freeze-branch")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("error: remote 'origin' has no branch-database backend, so the "
                        "database of branch 'exp' cannot be frozen; nothing was merged\n"
                        "hint: configure --admin-url or --turso-org for the remote\n")
    assert pvc("rev-parse", "HEAD").stdout == before
    assert Path("p.md").read_text() == "one\n\ntwo\n"


def test_branch_url_without_a_name_is_a_usage_error(repo, pvc):
    commit(pvc, "p.md", "x\n", "one")
    r = pvc("branch", "url")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.endswith("\nError: give the branch whose URL to print: pvc branch url NAME\n")
    assert pvc("branch").stdout == "* main\n"  # no branch called "url"


def test_every_key_a_merge_in_progress_writes_is_cleared(repo, pvc):
    from promptvc.treemerge import STATE_KEYS
    from promptvc.store import Store

    def state_keys() -> set[str]:
        s = Store(str(repo / ".pvc" / "pvc.db"))
        try:
            return {k for (k,) in s.conn.execute("SELECT key FROM state").fetchall()}
        finally:
            s.close()

    commit(pvc, "p.md", "a\n", "base")
    pvc("branch", "exp")
    pvc("switch", "exp")
    commit(pvc, "p.md", "b\n", "theirs")
    pvc("switch", "main")
    commit(pvc, "p.md", "c\n", "ours")
    before = state_keys()
    assert pvc("merge", "exp").exit_code == 1
    written = state_keys() - before
    assert "MERGE_PARENT2" in written
    assert written <= set(STATE_KEYS)  # STATE_KEYS names all of them
    assert pvc("merge", "--abort").exit_code == 0
    assert state_keys() == before


# -- porcelain ----------------------------------------------------------------------------------
def test_merge_branch_reports_each_step_in_order(two_branches):
    repo = Repo.open(two_branches)
    events = []
    try:
        done = porcelain.merge_branch(repo, "exp", delete_branch=True, on_event=events.append)
    finally:
        repo.close()
    assert [type(e).__name__ for e in events] == ["MergedEvent", "BranchDeletedEvent"]
    assert (done.outcome.kind, done.deleted, done.pushed, done.frozen) == (
        "fast-forward", True, None, None)
    assert events[1] == porcelain.BranchDeletedEvent("exp", None)


def test_merge_branch_stops_after_a_conflict(two_branches, pvc):
    commit(pvc, "p.md", "one\n\nzwei\n", "main edit")
    repo = Repo.open(two_branches)
    events = []
    try:
        done = porcelain.merge_branch(repo, "exp", delete_branch=True, on_event=events.append)
        assert done.conflicts and not done.deleted
        assert [type(e).__name__ for e in events] == ["MergedEvent"]
        assert repo.store.get_ref("refs/heads/exp") is not None  # not deleted
    finally:
        repo.close()


def test_branch_create_and_delete_without_a_database(repo, pvc):
    commit(pvc, "p.md", "x\n", "one")
    repo_ = Repo.open(repo)
    try:
        made = porcelain.create_branch(repo_, "light")
        assert (made.name, made.commit, made.database, made.warning) == (
            "light", repo_.head(), None, None)
        gone = porcelain.delete_branch(repo_, "light")
        assert (gone.target, gone.database) == (repo_.head(), None)
        assert repo_.store.get_ref("refs/heads/light") is None
    finally:
        repo_.close()


@pytest.mark.parametrize("url,folder", [  # the rule docs/cli.md states under `pvc clone`
    ("libsql://mydb-myorg.turso.io", "mydb-myorg"),
    ("libsql://prompts-acme.turso.io", "prompts-acme"),
    ("http://team.localhost:8080", "team"),
    ("http://localhost:8080", "prompts"),
    ("http://127.0.0.1:8080", "prompts"),
    ("http://10.1.2.3:8080", "prompts"),
    ("http://[::1]:8080", "prompts"),
    ("http://-rf.example.com", "prompts"),  # never a folder name that reads as an option
    ("https://", "prompts"),
])
def test_clone_directory(url, folder):
    assert porcelain.clone_directory(url) == folder


def test_clone_help_states_the_folder_rule(pvc):
    """The CLI names no folder of its own: its help text states porcelain's rule."""
    text = " ".join(pvc("clone", "--help").stdout.split())
    assert ("DIRECTORY defaults to the first label of URL's host name (`mydb-myorg` for "
            "libsql://mydb-myorg.turso.io, `team` for http://team.localhost:8080), or "
            "`prompts` when the host is localhost or an IP address.") in text
    from promptvc.cli import remote_cmds

    assert not hasattr(remote_cmds, "clone_folder")


def test_clone_without_a_directory_uses_porcelains_folder(tmp_path, monkeypatch, pvc):
    """`pvc clone URL` passes no folder of its own: porcelain's rule names it (for an IPv6
    host the old porcelain rule said '::1'), and a failed clone leaves nothing behind."""
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", "http://[::1]:9")  # nothing listens on port 9: the clone fails
    assert r.exit_code != 0
    assert r.stderr.startswith("Cloning into 'prompts'...\n")
    assert list(tmp_path.iterdir()) == []


def test_porcelain_has_no_front_end_imports():
    import ast

    tree = ast.parse(Path(porcelain.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert not names & {"click", "textual", "watchdog", "rich"}
    assert "print(" not in Path(porcelain.__file__).read_text()


def test_remove_remote_forgets_only_that_remotes_data(repo, pvc):
    """Tracking refs, fetched-tag marks and replica files of `origin` go; those of a remote
    named `origin.x` (a name that starts the same) stay."""
    from promptvc.repo import Repo

    commit(pvc, "p.md", "x\n", "one")
    for name in ("origin", "origin.x"):
        assert pvc("remote", "add", name, "http://127.0.0.1:9").exit_code == 0
    folder = repo / ".pvc" / "remotes"
    folder.mkdir()
    mine = ["origin.db", "origin.db-wal", "origin.db.lock", "origin@exp-1.db",
            "origin@exp-1.db-info"]
    theirs = ["origin.x.db", "origin.x@exp-2.db", "origin-2.db", "notes.txt"]
    for f in mine + theirs:
        (folder / f).write_bytes(b"")
    r = Repo.open(repo)
    try:
        head = r.head()
        for name in ("origin", "origin.x"):
            r.move_ref(f"refs/remotes/{name}/main", None, head, "test")
            r.store.set_state(f"fetched.{name}.refs/tags/production", head)
        done = porcelain.remove_remote(r, "origin")
        assert (done.name, done.refs, done.branch_dbs) == ("origin", ["refs/remotes/origin/main"], 0)
        assert sorted(p.name for p in done.replicas) == sorted(mine)
        assert sorted(p.name for p in folder.iterdir()) == sorted(theirs)
        assert r.store.get_state("fetched.origin.refs/tags/production") is None
        assert r.store.get_state("fetched.origin.x.refs/tags/production") == head
        assert r.list_refs("refs/remotes/") == [("refs/remotes/origin.x/main", head)]
    finally:
        r.close()
    assert pvc("remote").stdout == "origin.x\n"
