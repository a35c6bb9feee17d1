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
