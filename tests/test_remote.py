"""push / pull / clone against a real sqld on loopback, including faults."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from promptvc.remote.hrana import HranaClient
from tests.sqld_harness import unique_namespace

pytestmark = pytest.mark.sqld


def in_dir(path: Path, monkeypatch):
    monkeypatch.chdir(path)


def make_repo(path: Path, pvc, monkeypatch, url: str | None = None):
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(path)
    assert pvc("init").exit_code == 0
    if url:
        assert pvc("remote", "add", "origin", url).exit_code == 0
        pvc("config", "remote.origin.backoff", "0.05")


def write_commit(pvc, name: str, text: str, msg: str):
    Path(name).write_text(text)
    pvc("add", name)
    r = pvc("commit", "-m", msg)
    assert r.exit_code == 0, r.output
    return r


def head():
    from promptvc.repo import Repo

    r = Repo.open()
    try:
        return r.head()
    finally:
        r.close()


def log_ids(pvc):
    return [c["id"] for c in json.loads(pvc("log", "--json").stdout)]


def remote_count(url: str, sql: str):
    with HranaClient(url) as c:
        return c.execute(sql).rows[0][0]


def test_two_clones_push_pull_merge(tmp_path, pvc, monkeypatch, sqld_namespace, canary_token):
    url = sqld_namespace.url
    a, b = tmp_path / "a", tmp_path / "b"
    make_repo(a, pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "You are helpful.\nBe brief.\n", "first")
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"To {url}\n * [new branch]      main -> main (1 commit)\n"
    assert pvc("push").stdout == "Everything up-to-date\n"
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", url, "b")
    assert r.exit_code == 0, r.output
    assert r.stdout == "Fetched 1 commit; on branch main\n"
    monkeypatch.chdir(b)
    pvc("config", "remote.origin.backoff", "0.05")
    assert Path("p.md").read_text() == "You are helpful.\nBe brief.\n"
    write_commit(pvc, "p.md", "You are helpful.\nBe brief.\nCite sources.\n", "b: cite")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(a)
    r = pvc("pull")
    assert r.exit_code == 0, r.output
    assert Path("p.md").read_text() == "You are helpful.\nBe brief.\nCite sources.\n"
    a_log = log_ids(pvc)
    monkeypatch.chdir(b)
    assert log_ids(pvc) == a_log
    monkeypatch.chdir(a)
    assert pvc("fsck").exit_code == 0
    # both commit; A pushes first; B is refused, pulls (merge) and pushes; A pulls
    write_commit(pvc, "a.md", "from a\n", "a: new file")
    monkeypatch.chdir(b)
    write_commit(pvc, "p.md", "You are very helpful.\nBe brief.\nCite sources.\n", "b: tone")
    monkeypatch.chdir(a)
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(b)
    before = remote_count(url, "SELECT count(*) FROM commits")
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr == ("error: non-fast-forward: origin/main has commits that your main does "
                        "not have; nothing was pushed\nhint: run `pvc pull origin main` first "
                        "(it merges them), then push again\n")
    assert remote_count(url, "SELECT count(*) FROM commits") == before  # nothing half-written
    r = pvc("pull")
    assert r.exit_code == 0, r.output
    assert pvc("push").exit_code == 0
    b_head = head()
    b_log = log_ids(pvc)
    monkeypatch.chdir(a)
    assert pvc("pull").exit_code == 0
    assert head() == b_head
    assert log_ids(pvc) == b_log
    assert len(b_log) == 5  # first, b: cite, a: new file, b: tone, merge
    assert Path("a.md").read_text() == "from a\n"
    assert Path("p.md").read_text() == "You are very helpful.\nBe brief.\nCite sources.\n"
    assert pvc("fsck").exit_code == 0
    monkeypatch.chdir(b)
    assert pvc("fsck").exit_code == 0
    assert pvc("branch", "-a").stdout == "* main\n  remotes/origin/main\n"
    assert pvc("show", "origin/main:a.md").stdout == "from a\n"


def test_push_many_commits_is_one_request(tmp_path, pvc, monkeypatch, sqld_namespace):
    make_repo(tmp_path / "a", pvc, monkeypatch, sqld_namespace.url)
    for i in range(30):
        write_commit(pvc, f"f{i % 3}.md", f"version {i}\n" * (i + 1), f"c{i}")
    data = json.loads(pvc("push", "--json").stdout)
    assert data["commits"] == 30 and data["requests"] == 1
    write_commit(pvc, "f0.md", "again\n", "one more")
    data = json.loads(pvc("push", "--json").stdout)
    assert data["commits"] == 1 and data["requests"] == 1


def test_clone_reports_progress_on_each_received_version(tmp_path, pvc, monkeypatch,
                                                         sqld_namespace):
    from promptvc.porcelain import clone

    make_repo(tmp_path / "a", pvc, monkeypatch, sqld_namespace.url)
    for i in range(5):
        write_commit(pvc, f"f{i % 2}.md", f"version {i}\n", f"c{i}")
    assert pvc("push").exit_code == 0
    calls = []
    done = clone(sqld_namespace.url, str(tmp_path / "b"), progress=lambda i, n: calls.append((i, n)))
    done.repo.close()
    total = done.fetch.versions
    assert total == 10  # 5 file versions and 5 trees
    assert calls == [(i, total) for i in range(total)]


def test_fetch_verifies_remote_objects(tmp_path, pvc, monkeypatch, sqld_namespace):
    url = sqld_namespace.url
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "hello\n", "one")
    assert pvc("push").exit_code == 0
    with HranaClient(url) as c:  # someone tampers with the primary
        c.execute("UPDATE commits SET message = 'evil'")
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", url, "b")
    assert r.exit_code == 1
    assert "does not match its id" in r.stderr
    assert not (tmp_path / "b").exists()


def test_remote_commands_and_errors(repo, pvc):
    assert pvc("remote").stdout == ""
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr == ("error: this repository has no remote\n"
                        "hint: add one with `pvc remote add origin URL`\n")
    r = pvc("remote", "add", "origin", "ftp://x")
    assert r.stderr == ("error: remote URL 'ftp://x' must start with libsql://, https:// or "
                        "http://\nhint: for example: libsql://mydb-myorg.turso.io or "
                        "http://localhost:8080\n")
    r = pvc("remote", "add", "origin", "https://u:secret@db.example.com")
    assert r.exit_code == 1 and "secret" not in r.output
    assert pvc("remote", "add", "origin", "libsql://db-org.turso.io", "--token-env", "MY_TOK").exit_code == 0
    assert pvc("remote", "-v").stdout == "origin\tlibsql://db-org.turso.io (no token)\n"
    r = pvc("remote", "add", "origin", "http://x")
    assert r.stderr == ("error: remote 'origin' already exists\n"
                        "hint: remove it first with `pvc remote remove origin`\n")
    assert "token" not in (repo / ".pvc" / "config").read_text().replace("token_env", "")
    assert pvc("remote", "remove", "origin").stdout == "Removed remote origin\n"
    r = pvc("fetch", "nope")
    assert r.stderr == "error: no remote named 'nope'\nhint: add one with `pvc remote add origin URL`\n"


def test_login_stores_owner_only_credentials(repo, pvc, monkeypatch):
    pvc("remote", "add", "origin", "http://localhost:1")
    r = pvc("remote", "login", "origin", input="s3cr3t-token\n")
    assert r.exit_code == 0
    assert "s3cr3t" not in r.output
    cred = Path(os.environ["XDG_CONFIG_HOME"]) / "pvc" / "credentials"
    assert oct(cred.stat().st_mode & 0o777) == "0o600"
    assert "s3cr3t-token" in cred.read_text()
    assert "s3cr3t" not in (repo / ".pvc" / "config").read_text()
    assert pvc("remote", "-v").stdout == "origin\thttp://localhost:1 (token from $TURSO_AUTH_TOKEN)\n"
    cred.chmod(0o644)
    r = pvc("remote", "-v")
    assert r.exit_code == 1 and "can be read by other users" in r.stderr


# -- faults -------------------------------------------------------------------------------------
@pytest.fixture
def own_sqld(server):
    return server


def restart(server):
    """Start the same sqld again on the same ports and data."""
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)


def test_primary_stopped_then_restarted(tmp_path, pvc, monkeypatch, own_sqld):
    url = f"http://localhost:{own_sqld.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "v1\n", "one")
    assert pvc("push").exit_code == 0
    own_sqld.stop()
    write_commit(pvc, "p.md", "v2\n", "offline commit")  # commits work offline
    t = time.monotonic()
    r = pvc("push")
    took = time.monotonic() - t
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: cannot reach localhost:{own_sqld.http_port} while trying "
                               "to push main:")
    assert took < 3
    t = time.monotonic()
    r = pvc("fetch")
    assert r.exit_code == 1 and "cannot reach" in r.stderr
    assert time.monotonic() - t < 8
    restart(own_sqld)
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert remote_count(url, "SELECT count(*) FROM commits") == 2


def test_primary_frozen_push_and_fetch_are_bounded(tmp_path, pvc, monkeypatch, own_sqld,
                                                  canary_token):
    url = f"http://localhost:{own_sqld.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    pvc("config", "remote.origin.timeout", "2")
    write_commit(pvc, "p.md", "v1\n", "one")
    assert pvc("push").exit_code == 0
    write_commit(pvc, "p.md", "v2\n", "two")
    own_sqld.pause()
    try:
        ticks = []
        stop = threading.Event()

        def ticker():  # the process stays responsive (the GIL is not held)
            while not stop.is_set():
                ticks.append(time.monotonic())
                time.sleep(0.05)

        th = threading.Thread(target=ticker)
        th.start()
        t = time.monotonic()
        r = pvc("push")
        took = time.monotonic() - t
        r2 = pvc("fetch")
        took2 = time.monotonic() - t - took
        stop.set()
        th.join()
        assert r.exit_code == 1
        assert r.stderr.startswith(f"error: no answer from localhost:{own_sqld.http_port} within 2s")
        assert took < 4
        assert r2.exit_code == 1 and "no answer from" in r2.stderr
        assert took2 < 4
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        assert max(gaps) < 1.0
    finally:
        own_sqld.resume()
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert pvc("fetch").exit_code == 0
    assert pvc("fsck").exit_code == 0


def test_sqld_killed_mid_push_leaves_nothing_half_applied(tmp_path, pvc, monkeypatch, own_sqld):
    url = f"http://localhost:{own_sqld.http_port}"
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    pvc("config", "remote.origin.retries", "1")
    write_commit(pvc, "base.md", "base\n", "base")
    assert pvc("push").exit_code == 0
    import random

    rnd = random.Random(5)
    for i in range(60):
        write_commit(pvc, f"f{i % 5}.md", "".join(f"line {rnd.random()}\n" for _ in range(200)),
                     f"c{i}")
    outcomes = []
    for delay in (0.0, 0.005, 0.01, 0.02, 0.04):
        killer = threading.Timer(delay, own_sqld.stop)
        killer.start()
        r = pvc("push")
        killer.join()
        if own_sqld.running:
            own_sqld.stop()
        restart(own_sqld)
        with HranaClient(url) as c:
            n_commits = c.execute("SELECT count(*) FROM commits").rows[0][0]
            target = c.execute("SELECT target FROM refs WHERE name='refs/heads/main'").rows[0][0]
        # all or nothing: either the old state (1 commit, old head) or everything
        assert (n_commits, target == head()) in {(1, False), (61, True)}, (delay, n_commits)
        outcomes.append(r.exit_code)
        if r.exit_code == 0:
            break
    assert 1 in outcomes, "no trial killed the push mid-way"
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert remote_count(url, "SELECT count(*) FROM commits") == 61
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    assert pvc("fsck").exit_code == 0


def test_auth_failures_are_reported_not_timeouts(tmp_path, pvc, monkeypatch, jwt_sqld):
    ns = unique_namespace()
    jwt_sqld.server.create_namespace(ns)
    url = jwt_sqld.namespace_url(ns)
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "v1\n", "one")
    t = time.monotonic()
    r = pvc("push")
    assert r.exit_code == 1
    host = url.split("//", 1)[1]
    assert r.stderr.startswith(f"error: authentication failed for {host} while trying to push main")
    assert "hint: set $TURSO_AUTH_TOKEN to a valid token" in r.stderr
    bad = "eyJhbGciOiJFZERTQSJ9.e30.bm9wZQ"
    monkeypatch.setenv("TURSO_AUTH_TOKEN", bad)
    r = pvc("fetch")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: authentication failed for {host} while trying to fetch")
    assert bad not in r.output
    assert time.monotonic() - t < 12
    good = jwt_sqld.token({})
    from tests.conftest import SECRETS

    SECRETS.add(good)
    monkeypatch.setenv("TURSO_AUTH_TOKEN", good)
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert pvc("fetch").exit_code == 0
    assert good not in r.output
    for p in (tmp_path / "a" / ".pvc").rglob("*"):
        if p.is_file():
            assert good.encode() not in p.read_bytes(), p


def test_tags_are_published_and_cloned(tmp_path, pvc, monkeypatch, sqld_namespace):
    url = sqld_namespace.url
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "v1\n", "one")
    pvc("tag", "production")
    write_commit(pvc, "p.md", "v2\n", "two")
    r = pvc("push", "--tags")
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("Published 1 tag: production\n")
    with HranaClient(url) as c:
        rows = dict(c.execute("SELECT name, target FROM refs").rows)
        log = c.execute("SELECT ref, action FROM reflog WHERE ref = 'refs/tags/production'").rows
    assert rows["refs/tags/production"] == json.loads(pvc("show", "--json", "HEAD~1").stdout)["id"]
    assert log == [["refs/tags/production", "push: tag"]] or log == [("refs/tags/production", "push: tag")]
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    assert pvc("tag").stdout == "production\n"
    assert pvc("show", "production:p.md").stdout == "v1\n"


def test_a_tag_moved_on_the_remote_moves_here(tmp_path, pvc, monkeypatch, sqld_namespace):
    url = sqld_namespace.url
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    write_commit(pvc, "p.md", "v1\n", "one")
    pvc("tag", "production")
    assert pvc("push", "--tags").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "a")
    write_commit(pvc, "p.md", "v2\n", "two")
    pvc("tag", "-f", "production", "HEAD")
    assert pvc("push", "--tags").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    assert pvc("pull").exit_code == 0
    assert pvc("show", "production:p.md").stdout == "v2\n"
    log = json.loads(pvc("reflog", "production", "--json").stdout)
    assert log[0]["action"] == "fetch: tag moved on origin"
    # a tag moved here and not pushed is not overwritten by the next fetch
    pvc("tag", "-f", "production", "HEAD~1")
    assert pvc("fetch").exit_code == 0
    assert pvc("show", "production:p.md").stdout == "v1\n"


def test_interrupted_first_push_resumes_where_it_stopped(tmp_path, pvc, monkeypatch,
                                                          sqld_namespace):
    """A first push split into batches, SIGKILLed after its first batch landed: the primary
    has whole commits but no branch; the next push continues after what landed."""
    import signal
    import subprocess
    import sys

    url = sqld_namespace.url
    make_repo(tmp_path / "a", pvc, monkeypatch, url)
    for i in range(60):
        write_commit(pvc, f"f{i % 4}.md", f"line {i}\n" * (i % 7 + 1), f"c{i}")
    env = dict(os.environ, PVC_PUSH_BATCH_COMMITS="3")
    proc = subprocess.Popen([sys.executable, "-m", "promptvc", "push", "--progress"],
                            cwd=tmp_path / "a", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stderr.readline()  # written after batch 1 is recorded as landed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert first == b"pushed 3 commits so far\n"
    landed = remote_count(url, "SELECT count(*) FROM commits")
    assert 3 <= landed < 60
    assert remote_count(url, "SELECT count(*) FROM refs") == 0  # the CAS is in the last batch
    # every commit that landed is complete: its tree and its parents are there
    assert remote_count(url, "SELECT count(*) FROM commits c WHERE NOT EXISTS (SELECT 1 FROM "
                             "versions v WHERE v.id = c.tree_id) OR (c.parent1 IS NOT NULL AND "
                             "NOT EXISTS (SELECT 1 FROM commits p WHERE p.id = c.parent1))") == 0
    monkeypatch.setenv("PVC_PUSH_BATCH_COMMITS", "3")
    data = json.loads(pvc("push", "--json").stdout)
    assert data["resumed"] is True and data["new"] == head()
    assert data["commits"] <= 60 - 3 and data["commits"] + landed >= 60
    assert remote_count(url, "SELECT count(*) FROM commits") == 60
    assert pvc("push").stdout == "Everything up-to-date\n"
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", url, "b")
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(tmp_path / "b")
    assert len(log_ids(pvc)) == 60
    assert pvc("fsck").exit_code == 0
