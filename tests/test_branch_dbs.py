"""Branches as databases on a real sqld with namespaces (admin API fork/delete/freeze)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptvc.remote.hrana import HranaClient, HranaError

pytestmark = pytest.mark.sqld


def refs_of(url: str) -> dict[str, str]:
    with HranaClient(url) as c:
        return dict(c.execute("SELECT name, target FROM refs").rows)


@pytest.fixture
def repo_a(tmp_path, pvc, monkeypatch, server):
    a = tmp_path / "a"
    a.mkdir()
    monkeypatch.chdir(a)
    assert pvc("init").exit_code == 0
    Path("p.md").write_text("control prompt\n")
    pvc("add", "p.md")
    assert pvc("commit", "-m", "control").exit_code == 0
    r = pvc("remote", "add", "origin", f"http://localhost:{server.http_port}",
            "--admin-url", server.admin_url)
    assert r.stdout == (f"Added remote origin (http://localhost:{server.http_port}); branch "
                        f"databases via sqld admin API {server.admin_url}\n"
                        "Clones will use the same branch-database settings once you push "
                        "(tokens are never shared).\n")
    assert pvc("push").exit_code == 0
    return a


def test_branch_database_lifecycle(repo_a, pvc, server, tmp_path, monkeypatch):
    main_url = f"http://localhost:{server.http_port}"
    r = pvc("branch", "exp-b")
    assert r.exit_code == 0, r.output
    first, url_line = r.stdout.splitlines()
    assert first.startswith("Created branch exp-b at ")
    db = first.rsplit(" ", 1)[1]
    assert db.startswith("default-exp-b-") and len(db) == len("default-exp-b-") + 6
    url = url_line.strip()
    assert url == f"http://{db}.localhost:{server.http_port}"
    assert server.namespace_exists(db)
    assert pvc("branch", "url", "exp-b").stdout == url + "\n"
    # commit to the branch: it goes to the branch database only
    pvc("switch", "exp-b")
    Path("p.md").write_text("arm B prompt\n")
    assert pvc("commit", "-m", "arm b").exit_code == 0
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"To {url}\n")
    head_b = json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"]
    assert refs_of(url)["refs/heads/exp-b"] == head_b
    assert "refs/heads/exp-b" not in refs_of(main_url)
    with HranaClient(url) as c:  # a plain libSQL client sees the branch content
        assert c.execute("SELECT count(*) FROM commits WHERE id = ?", (head_b,)).rows[0][0] == 1
    with HranaClient(main_url) as c:
        assert c.execute("SELECT count(*) FROM commits WHERE id = ?", (head_b,)).rows[0][0] == 0
    v = pvc("branch", "-v").stdout
    assert f"[{db} {url}]" in v
    # another clone sees the mapping and can work on the branch
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", main_url, "c").exit_code == 0
    monkeypatch.chdir(tmp_path / "c")
    assert pvc("branch", "url", "exp-b").stdout == url + "\n"
    assert pvc("switch", "exp-b").exit_code == 0
    assert Path("p.md").read_text() == "arm B prompt\n"
    # merge back and delete
    monkeypatch.chdir(repo_a)
    pvc("switch", "main")
    r = pvc("merge", "exp-b", "--delete-branch")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == f"Deleted branch exp-b and its database {db}"
    assert Path("p.md").read_text() == "arm B prompt\n"
    assert refs_of(main_url)["refs/heads/main"] == head_b
    assert not server.namespace_exists(db)
    assert not list((repo_a / ".pvc" / "remotes").glob(f"origin@{db}*"))
    assert pvc("fsck").exit_code == 0
    assert pvc("branch").stdout == "* main\n"


def test_unmerged_branch_database_needs_D(repo_a, pvc, server):
    r = pvc("branch", "exp-c")
    db = r.stdout.splitlines()[0].rsplit(" ", 1)[1]
    pvc("switch", "exp-c")
    Path("p.md").write_text("c\n")
    pvc("commit", "-m", "c")
    pvc("push")
    pvc("switch", "main")
    r = pvc("branch", "-d", "exp-c")
    assert r.exit_code == 1
    assert r.stderr == ("error: branch 'exp-c' is not fully merged into main\nhint: merge it first, "
                        "or delete it and its database anyway with `pvc branch -D exp-c`\n")
    assert server.namespace_exists(db)
    r = pvc("branch", "-D", "exp-c")
    assert r.exit_code == 0
    assert r.stdout.endswith(f"and its database {db}.\n")
    assert not server.namespace_exists(db)


def test_freeze_branch_after_merge(repo_a, pvc, server):
    r = pvc("branch", "exp-f")
    db = r.stdout.splitlines()[0].rsplit(" ", 1)[1]
    url = r.stdout.splitlines()[1].strip()
    pvc("switch", "exp-f")
    Path("p.md").write_text("f\n")
    pvc("commit", "-m", "f")
    pvc("push")
    pvc("switch", "main")
    r = pvc("merge", "exp-f", "--freeze-branch")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == f"Froze the database {db} of branch exp-f (read-only)"
    with HranaClient(url) as c:
        assert c.execute("SELECT count(*) FROM refs").rows[0][0] >= 1  # reads still work
        with pytest.raises(HranaError):
            c.execute("DELETE FROM refs")
    assert "(frozen" in pvc("branch", "-v").stdout


def test_local_branch_flag_and_names_never_reused(repo_a, pvc, server):
    r = pvc("branch", "--local", "light")
    assert r.stdout.startswith("Created branch light at ")
    assert "database" not in r.stdout
    names = set()
    for _ in range(2):
        r = pvc("branch", "exp-x")
        names.add(r.stdout.splitlines()[0].rsplit(" ", 1)[1])
        assert pvc("branch", "-D", "exp-x").exit_code == 0
    assert len(names) == 2


def test_failed_record_leaves_no_orphan(repo_a, pvc, server, monkeypatch):
    """If the mapping cannot be written to the main database, the fork is deleted again."""
    from promptvc.remote import branch_dbs as branches

    created = []
    real_create = branches.new_db_name

    def spy(base, name):
        created.append(real_create(base, name))
        return created[-1]

    def broken(*_a, **_k):
        raise HranaError("simulated failure while recording")

    monkeypatch.setattr(branches, "new_db_name", spy)
    monkeypatch.setattr(branches, "_record_on_main", broken)
    r = pvc("branch", "exp-z")
    assert r.exit_code == 1
    assert created and not server.namespace_exists(created[0])
    assert "exp-z" not in pvc("branch").stdout


# -- pvc remote remove: the branch databases and their replicas go too -------------------------
def _branch_with_replica(pvc, name: str) -> str:
    """Create branch NAME with a database, push to it (its replica file appears); its db."""
    r = pvc("branch", name)
    assert r.exit_code == 0, r.output
    db = r.stdout.splitlines()[0].rsplit(" ", 1)[1]
    pvc("switch", name)
    Path("p.md").write_text(f"arm {name}\n")
    assert pvc("commit", "-m", name).exit_code == 0
    assert pvc("push").exit_code == 0
    assert pvc("fetch").exit_code == 0
    pvc("switch", "main")
    return db


def _left_of(repo_dir: Path, remote: str) -> tuple[list, list, list]:
    """(branch_dbs rows, tracking refs, replica files) the repository keeps of REMOTE."""
    from promptvc.repo import Repo

    repo = Repo.open(repo_dir)
    try:
        rows = repo.store.branch_dbs(remote)
        refs = repo.list_refs(f"refs/remotes/{remote}/")
    finally:
        repo.close()
    files = sorted(p.name for p in (repo_dir / ".pvc" / "remotes").glob(f"{remote}[.@]*"))
    return rows, refs, files


def test_remote_remove_forgets_branch_databases_and_their_replicas(repo_a, pvc, server):
    db = _branch_with_replica(pvc, "exp-r")
    rows, refs, files = _left_of(repo_a, "origin")
    assert [r.db_name for r in rows] == [db] and refs
    assert f"origin@{db}.db" in files and "origin.db" in files
    r = pvc("remote", "remove", "origin")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == ("Removed remote origin\n"
                        "Forgot 1 branch database of origin (the databases stay on the server)\n")
    assert _left_of(repo_a, "origin") == ([], [], [])
    assert server.namespace_exists(db)  # only forgotten here
    reflog = pvc("reflog", "refs/remotes/origin/main").stdout
    assert "remote: removed origin" in reflog
    # a new origin starts clean: exp-r is a plain branch of the new remote's main database
    url2 = f"http://127.0.0.1:{server.http_port}"
    assert pvc("remote", "add", "origin", url2).exit_code == 0
    assert pvc("branch", "url", "exp-r").stdout == url2 + "\n"


def test_remote_remove_json(repo_a, pvc, server):
    db = _branch_with_replica(pvc, "exp-j")
    r = pvc("remote", "remove", "origin", "--json")
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    assert (done["remote"], done["branch_dbs"]) == ("origin", 1)
    assert "refs/remotes/origin/main" in done["refs"]
    names = {Path(p).name for p in done["replicas"]}
    assert {"origin.db", f"origin@{db}.db"} <= names


@pytest.mark.parametrize("dies_in", ["promptvc.remote.replica.remove_replica",
                                     "promptvc.remote.remotes.remove_remote"])
def test_remote_remove_killed_midway_is_finished_by_the_next_one(repo_a, pvc, server,
                                                                 monkeypatch, dies_in):
    """Killed after the store transaction (removing the files) or after the files (saving the
    config): the remote is still configured, and `pvc remote remove` again finishes."""
    _branch_with_replica(pvc, "exp-k")
    module, _, attr = dies_in.rpartition(".")
    import importlib

    real = getattr(importlib.import_module(module), attr)

    def dies(*args):
        if dies_in.endswith("remove_replica"):
            real(*args)  # one replica's files go, then the kill
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(importlib.import_module(module), attr, dies)
        assert pvc("remote", "remove", "origin").exit_code != 0  # interrupted
    rows, refs, files = _left_of(repo_a, "origin")
    assert (rows, refs) == ([], [])  # the store transaction committed
    if dies_in.endswith("remove_replica"):
        assert files  # replica files no branch_dbs row names any more
    assert pvc("remote").stdout == "origin\n"
    r = pvc("remote", "remove", "origin")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "Removed remote origin\n", "")
    assert _left_of(repo_a, "origin") == ([], [], [])
    assert pvc("remote").stdout == ""


def test_remote_add_forgets_what_an_old_remove_left(repo_a, pvc, server):
    """An older `pvc remote remove` dropped only the config and the refs: adding the remote
    again must not bring back the old branch-database mapping."""
    from promptvc.config import Config

    _branch_with_replica(pvc, "exp-o")
    config = Config(repo_a / ".pvc" / "config")
    config.parser.remove_section('remote "origin"')  # what the old remove did to the config
    config.parser.remove_section('team "origin"')
    config.save()
    assert _left_of(repo_a, "origin")[0]
    url2 = f"http://127.0.0.1:{server.http_port}"
    assert pvc("remote", "add", "origin", url2).stdout == f"Added remote origin ({url2})\n"
    assert _left_of(repo_a, "origin") == ([], [], [])
    assert pvc("branch", "url", "exp-o").stdout == url2 + "\n"


def test_sync_publishes_a_branch_never_pushed_but_not_one_deleted_on_the_remote(
        repo_a, pvc, server, tmp_path, monkeypatch):
    from promptvc import porcelain
    from promptvc.repo import Repo

    main_url = f"http://localhost:{server.http_port}"
    assert pvc("push").exit_code == 0
    # a branch on the main database that the remote never had: `pvc sync` publishes it
    assert pvc("branch", "--local", "light").exit_code == 0
    pvc("switch", "light")
    Path("p.md").write_text("light prompt\n")
    assert pvc("commit", "-m", "light").exit_code == 0
    head = json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"]
    r = pvc("sync")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Published light to origin at {head[:8]} (pushed 1 commit)\n"
    assert refs_of(main_url)["refs/heads/light"] == head
    # the daemon's round does the same for the next new branch
    assert pvc("branch", "--local", "light2").exit_code == 0
    pvc("switch", "light2")
    Path("p.md").write_text("light 2\n")
    assert pvc("commit", "-m", "light 2").exit_code == 0
    repo = Repo.open(repo_a)
    try:
        step = porcelain.sync_step(repo)
        assert (step.outcome, step.branch) == ("pushed", "light2")
        assert refs_of(main_url)["refs/heads/light2"] == repo.head()
    finally:
        repo.close()
    # a branch deleted on the remote (merged with --delete-branch elsewhere) stays deleted
    pvc("switch", "main")
    r = pvc("branch", "exp-b")
    db = r.stdout.splitlines()[0].rsplit(" ", 1)[1]
    pvc("switch", "exp-b")
    Path("p.md").write_text("arm B prompt\n")
    assert pvc("commit", "-m", "arm b").exit_code == 0
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", main_url, "c").exit_code == 0
    monkeypatch.chdir(tmp_path / "c")
    assert pvc("switch", "exp-b").exit_code == 0
    Path("p.md").write_text("more on B\n")
    assert pvc("commit", "-m", "more b").exit_code == 0
    monkeypatch.chdir(repo_a)
    pvc("switch", "main")
    assert pvc("merge", "exp-b", "--delete-branch").exit_code == 0
    assert not server.namespace_exists(db)
    monkeypatch.chdir(tmp_path / "c")
    before = json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"]
    r = pvc("sync")
    assert r.exit_code == 1
    assert r.stderr == ("error: branch 'exp-b' was deleted on origin\n"
                        "hint: publish it again with `pvc push origin exp-b`, or delete it here "
                        "with `pvc branch -d exp-b`\n")
    assert not server.namespace_exists(db)  # not brought back
    assert "refs/heads/exp-b" not in refs_of(main_url)
    assert json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"] == before
    repo = Repo.open(tmp_path / "c")
    try:
        with pytest.raises(Exception) as caught:
            porcelain.sync_step(repo)
        assert getattr(caught.value, "error_code", None) is not None
        assert caught.value.error_code.value == "no-remote-branch"
    finally:
        repo.close()


def test_sync_counts_the_commits_it_brought_even_when_fetched_before(repo_a, pvc, tmp_path,
                                                                     monkeypatch, server):
    main_url = f"http://localhost:{server.http_port}"
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", main_url, "c").exit_code == 0
    monkeypatch.chdir(tmp_path / "c")
    for text in ("one\n", "two\n"):
        Path("p.md").write_text(text)
        assert pvc("commit", "-m", text.strip()).exit_code == 0
    assert pvc("push").exit_code == 0
    head = json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"]
    monkeypatch.chdir(repo_a)
    assert pvc("fetch").exit_code == 0  # the commits arrive here, the branch stays
    r = pvc("sync")
    assert r.exit_code == 0, r.output
    assert r.stdout == (f"In sync with origin/main at {head[:8]} (pulled 2 commits, "
                        "pushed 0 commits)\n")
    assert pvc("sync").stdout == "Already in sync.\n"
