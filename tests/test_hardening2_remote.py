"""Hardening 2 (issue 14) against a real sqld: tag compare-and-swap (item 5) and branch
deletion that checks the branch database's own head (item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptvc.errors import ErrorCode, PvcError
from promptvc.porcelain import sync_step
from promptvc.remote.hrana import HranaClient
from promptvc.repo import Repo
from tests.test_branch_dbs import repo_a  # noqa: F401 - fixture
from tests.test_remote import make_repo, write_commit

pytestmark = pytest.mark.sqld


def _remote_tag(url: str, name: str = "production"):
    with HranaClient(url) as c:
        rows = c.execute("SELECT target FROM refs WHERE name = ?", (f"refs/tags/{name}",)).rows
        log = [tuple(r) for r in c.execute(
            "SELECT action FROM reflog WHERE ref = ? ORDER BY seq", (f"refs/tags/{name}",)).rows]
    return (rows[0][0] if rows else None), [a for (a,) in log]


def _id(pvc, rev: str) -> str:
    return json.loads(pvc("show", "--json", rev).stdout)["id"]


def test_tag_push_is_compare_and_swap(tmp_path, pvc, monkeypatch, sqld_namespace):
    url = sqld_namespace.url
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "v1\n", "one")
    pvc("tag", "production")
    assert pvc("push", "--tags").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    # A moves production and publishes it
    monkeypatch.chdir(tmp_path / "a")
    write_commit(pvc, "p.md", "v2\n", "two")
    pvc("tag", "-f", "production", "HEAD")
    assert pvc("push", "--tags").exit_code == 0
    a_target = _id(pvc, "HEAD")
    # B has not seen that move and moves it elsewhere (on a side branch it can push)
    monkeypatch.chdir(tmp_path / "b")
    pvc("config", "remote.origin.backoff", "0.05")
    pvc("switch", "-c", "side")
    write_commit(pvc, "q.md", "b\n", "b")
    pvc("tag", "-f", "production", "HEAD")
    r = pvc("push", "origin", "side", "--tags")
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: tag 'production' was moved on origin since you last fetched (it is now at "
        f"{a_target[:12]}); no tag was pushed\nhint: run `pvc fetch origin` to see the move, "
        "then `pvc push --tags` again; or overwrite it with `pvc push --tags --force`\n")
    assert _remote_tag(url) == (a_target, ["push: tag", "push: tag"])  # the loser changed nothing
    assert pvc("push", "--force").exit_code == 2  # --force is for tags only
    # the deliberate overwrite, recorded as forced
    r = pvc("push", "origin", "side", "--tags", "--force")
    assert r.exit_code == 0, r.output
    b_target = _id(pvc, "HEAD")
    assert _remote_tag(url) == (b_target, ["push: tag", "push: tag", "push: tag (forced)"])
    # and A, who last saw its own value, now loses the next move in turn
    monkeypatch.chdir(tmp_path / "a")
    pvc("tag", "-f", "production", "HEAD~1")
    r = pvc("push", "--tags")
    assert r.exit_code == 1
    assert "tag 'production' was moved on origin since you last fetched" in r.stderr
    assert pvc("fetch").exit_code == 0  # A sees B's move; A's own move here is kept ...
    r = pvc("push", "--tags")  # ... and a push after the fetch is a compare-and-swap that wins
    assert r.exit_code == 0, r.output
    assert _remote_tag(url)[0] == _id(pvc, "HEAD~1")


def test_branch_delete_checks_the_branch_databases_own_head(repo_a, pvc, server, tmp_path,  # noqa: F811
                                                           monkeypatch):
    main_url = f"http://localhost:{server.http_port}"
    r = pvc("branch", "exp-b")
    assert r.exit_code == 0, r.output
    db = r.stdout.splitlines()[0].rsplit(" ", 1)[1]
    # a teammate clones, commits on exp-b and pushes it to the branch database
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", main_url, "mate").exit_code == 0
    monkeypatch.chdir(tmp_path / "mate")
    assert pvc("switch", "exp-b").exit_code == 0
    Path("p.md").write_text("teammate's arm B\n")
    assert pvc("commit", "-m", "mate: arm b").exit_code == 0
    assert pvc("push").exit_code == 0
    mate_head = _id(pvc, "HEAD")
    # A's copy of exp-b is stale (merged by definition: it is where it was created)
    monkeypatch.chdir(repo_a)
    r = pvc("branch", "-d", "exp-b")
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: branch 'exp-b' on its database {db} is at {mate_head[:12]}, which is not merged "
        "into main (commits you have not fetched); nothing was deleted\nhint: `pvc fetch` and "
        "merge origin/exp-b first, or delete it and its database anyway with "
        "`pvc branch -D exp-b`\n")
    assert server.namespace_exists(db)
    # -D deletes; the teammate's next fetch says the branch is gone
    assert pvc("branch", "-D", "exp-b").exit_code == 0
    assert not server.namespace_exists(db)
    monkeypatch.chdir(tmp_path / "mate")
    pvc("switch", "main")
    r = pvc("fetch")
    assert r.exit_code == 0, r.output
    assert " - [deleted]         origin/exp-b (deleted on origin)" in r.stdout.splitlines()


# -- 6. a lost primary is detected and re-seeded -----------------------------------------------
def test_lost_primary_is_detected_and_reseeded(tmp_path, pvc, monkeypatch, server):
    import shutil

    url = f"http://localhost:{server.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    pvc("config", "remote.origin.timeout", "5")
    write_commit(pvc, "p.md", "v1\n", "one")
    pvc("tag", "production")
    assert pvc("push", "--tags").exit_code == 0
    write_commit(pvc, "p.md", "v2\n", "two")
    # the primary comes back with an empty data folder
    server.stop()
    shutil.rmtree(server.db_path)
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)
    r = pvc("push")
    assert r.exit_code == 1
    head = _id(pvc, "HEAD~1")
    assert r.stderr == (
        f"error: origin no longer has commit {head[:12]}, where this clone last saw main: the "
        "primary has lost its data (re-created or restored empty); nothing was pushed\n"
        "hint: re-seed it from this clone's history with `pvc push --reseed` (then "
        "`pvc push --reseed --tags` for the labels), or start again from what it has now: "
        "`pvc remote remove origin` and `pvc remote add origin URL`\n")
    r = pvc("push", "--reseed", "--tags")
    assert r.exit_code == 0, r.output
    with HranaClient(url) as c:
        assert c.execute("SELECT count(*) FROM commits").rows[0][0] == 2
    assert _remote_tag(url)[0] == head
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    assert (tmp_path / "b" / "p.md").read_text() == "v2\n"
    monkeypatch.chdir(tmp_path / "b")
    assert pvc("fsck").exit_code == 0


def test_a_push_after_another_clone_reseeded_less_history_sends_what_is_missing(
        tmp_path, pvc, monkeypatch, server):
    """A re-seeds the lost primary without B's commit C2; B's push must not trust its
    tracking ref (C2) as "on the primary", or the primary would get C3 without its parent."""
    import shutil

    url = f"http://localhost:{server.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    pvc("config", "remote.origin.timeout", "5")
    write_commit(pvc, "p.md", "v1\n", "one")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    pvc("config", "remote.origin.backoff", "0.05")
    write_commit(pvc, "p.md", "v2\n", "two by b")
    assert pvc("push").exit_code == 0
    c2 = _id(pvc, "HEAD")
    server.stop()
    shutil.rmtree(server.db_path)
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)
    monkeypatch.chdir(tmp_path / "a")  # A never fetched C2
    assert pvc("push", "--reseed").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    write_commit(pvc, "p.md", "v3\n", "three by b")
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: origin no longer has commit {c2[:12]}, where this clone "
                               "last saw main: the primary has lost its data")
    with HranaClient(url) as c:  # nothing moved: main is still A's re-seed
        assert c.execute("SELECT count(*) FROM commits").rows[0][0] == 1
    r = pvc("push", "--reseed")
    assert r.exit_code == 0, r.output
    with HranaClient(url) as c:
        assert c.execute("SELECT count(*) FROM commits").rows[0][0] == 3
        assert c.execute("SELECT target FROM refs WHERE name = 'refs/heads/main'").rows[0][0] \
            == _id(pvc, "HEAD")
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "c").exit_code == 0
    assert (tmp_path / "c" / "p.md").read_text() == "v3\n"
    monkeypatch.chdir(tmp_path / "c")
    assert pvc("fsck").exit_code == 0


def _refs(pvc) -> tuple:
    """Every branch (local and remote-tracking) and tag with its commit, and main's log."""
    branches = [(b["name"], b["head"]) for b in json.loads(pvc("branch", "-a", "--json").stdout)]
    return branches, pvc("tag", "--json").stdout, pvc("log", "--oneline").stdout


def test_fetch_and_pull_refuse_a_lost_primary_and_move_nothing(tmp_path, pvc, monkeypatch,
                                                                 server):
    import shutil

    url = f"http://localhost:{server.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    pvc("config", "remote.origin.timeout", "5")
    write_commit(pvc, "p.md", "v1\n", "one")
    pvc("branch", "dtest")
    pvc("tag", "production")
    write_commit(pvc, "p.md", "v2\n", "two")
    assert pvc("push", "--tags").exit_code == 0
    assert pvc("push", "origin", "dtest").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    pvc("config", "remote.origin.backoff", "0.05")
    assert pvc("fetch").exit_code == 0
    main = _id(pvc, "origin/main")
    before = _refs(pvc)
    assert (tmp_path / "b" / ".pvc" / "remotes" / "origin.db").exists()
    # the primary comes back with an empty data folder
    server.stop()
    shutil.rmtree(server.db_path)
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)
    hint = ("hint: re-seed it from this clone's history with `pvc push --reseed` (then "
            "`pvc push --reseed --tags` for the labels), or start again from what it has now: "
            "`pvc remote remove origin` and `pvc remote add origin URL`\n")
    for _ in range(2):  # the second time without the replica file the first one set aside
        r = pvc("fetch")
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == (
            f"error: origin no longer has commit {main[:12]}, where this clone last saw "
            "main: the primary has lost its data (re-created or restored empty); nothing was "
            "fetched\n" + hint)  # the current branch, of those it lost
        assert not list((tmp_path / "b" / ".pvc" / "remotes").glob("origin.db*"))
    for args in (["fetch", "--json"], ["pull", "--json"]):
        r = pvc(*args)
        assert r.exit_code == 1
        assert json.loads(r.stdout)["error"]["code"] == "primary-lost"
    for args in (["pull"], ["sync"]):
        r = pvc(*args)
        assert (r.exit_code, r.stdout) == (1, ""), args
        assert r.stderr.endswith("nothing was fetched\n" + hint)
    repo = Repo.open(tmp_path / "b")
    try:
        with pytest.raises(PvcError) as caught:  # the daemon's round
            sync_step(repo)
    finally:
        repo.close()
    assert caught.value.error_code is ErrorCode.PRIMARY_LOST
    assert _refs(pvc) == before  # no tracking ref, branch or tag moved
    assert _id(pvc, "origin/main") == main
    # the push from this clone says the same (one check)
    write_commit(pvc, "q.md", "b\n", "b's")
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: origin no longer has commit {main[:12]}, where this clone last saw main: the "
        "primary has lost its data (re-created or restored empty); nothing was pushed\n" + hint)
    # A re-seeds it; B's fetch and pull work again, from a new replica
    monkeypatch.chdir(tmp_path / "a")
    write_commit(pvc, "p.md", "v3\n", "three")
    a_head = _id(pvc, "HEAD")
    assert pvc("push", "--reseed", "--tags").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    r = pvc("fetch")
    assert r.exit_code == 0, r.output
    assert _id(pvc, "origin/main") == a_head
    r = pvc("pull")
    assert r.exit_code == 0, r.output
    assert Path("p.md").read_text() == "v3\n"


def test_reseed_brings_back_the_branch_databases(tmp_path, pvc, monkeypatch, server):
    import shutil

    url = f"http://localhost:{server.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch)
    assert pvc("remote", "add", "origin", url, "--admin-url", server.admin_url).exit_code == 0
    pvc("config", "remote.origin.timeout", "5")
    write_commit(pvc, "p.md", "control\n", "control")
    assert pvc("push").exit_code == 0
    assert pvc("branch", "exp-b").exit_code == 0
    assert pvc("switch", "exp-b").exit_code == 0
    write_commit(pvc, "p.md", "arm b\n", "arm b")
    assert pvc("push").exit_code == 0
    db = json.loads(pvc("branch", "-v", "--json").stdout)
    db_b = next(b["database"] for b in db if b["name"] == "exp-b")
    assert pvc("switch", "main").exit_code == 0
    exp_b = _id(pvc, "exp-b")
    # the server comes back with an empty data folder: the main and the branch database
    server.stop()
    shutil.rmtree(server.db_path)
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)
    r = pvc("push", "--reseed")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == f"Branch database {db_b} of exp-b: re-created"
    # a new clone finds exp-b in its database, with its commit
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    rows = json.loads(pvc("branch", "-a", "--json").stdout)
    remote_b = next(b for b in rows if b["name"] == "remotes/origin/exp-b")
    assert (remote_b["database"], remote_b["head"]) == (db_b, exp_b)
    assert pvc("switch", "exp-b").exit_code == 0
    assert Path("p.md").read_text() == "arm b\n"
    assert pvc("fsck").exit_code == 0
    # on the branch itself, the reseed says where to start
    r = pvc("push", "--reseed")
    assert (r.exit_code, r.stderr.splitlines()[0]) == (
        1, "error: branch 'exp-b' lives in a branch database; the main database is re-seeded "
           "first, and that brings the branch databases back")
