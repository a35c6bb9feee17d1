"""Branch databases on Turso Cloud: the Platform API contract of TursoBackend, and the whole
branch lifecycle through the CLI against a local fake of the API (tests/turso_fake.py)
whose databases are REAL sqld namespaces (forked / deleted through sqld's admin API)."""

from __future__ import annotations

import json
import re
import stat
import uuid
from pathlib import Path

import pytest

from promptvc.remote.db_backends import BackendError, BranchDb, TursoBackend, new_db_name
from promptvc.remote.hrana import HranaClient
from promptvc.remote.remotes import http_url
from tests.sqld_harness import start_sqld
from tests.turso_fake import TursoFake

pytestmark = pytest.mark.sqld

ORG = "acme"
TS = "2024-05-01T12:00:00Z"


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def turso_sqld(sqld_binary, tmp_path_factory):  # noqa: F811
    """A sqld of this module only: the fake's databases are its namespaces."""
    server = start_sqld(sqld_binary, tmp_path_factory.mktemp("turso-sqld"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(turso_sqld):
    f = TursoFake(turso_sqld, org=ORG).start()
    try:
        yield f
    finally:
        f.stop()


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def main_db(fake: TursoFake, name: str | None = None) -> str:
    name = name or uniq("main")
    fake.add_database(name)
    return name


def backend(fake: TursoFake, main: str, token: str | None = "", **kw) -> TursoBackend:
    return TursoBackend(ORG, fake.token if token == "" else token, fake.libsql_url(main),
                        api_url=fake.url, timeout=5.0, **kw)


def query(url: str, sql: str, args: tuple = ()) -> list:
    with HranaClient(http_url(url), timeout=5.0) as c:
        return [list(r) for r in c.execute(sql, args).rows]


def no_secret(exc: BaseException, *secrets: str) -> None:
    text = " ".join([str(exc), getattr(exc, "message", "") or "", getattr(exc, "hint", "") or ""])
    for s in secrets:
        assert s not in text


def setup_repo(path: Path, pvc, monkeypatch, fake: TursoFake, main: str, *extra: str,
               token: bool = True) -> None:
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(path)
    if token:
        monkeypatch.setenv("TURSO_API_TOKEN", fake.token)
    assert pvc("init").exit_code == 0
    r = pvc("remote", "add", "origin", fake.libsql_url(main), "--turso-org", ORG,
            "--turso-api-url", fake.url, *extra)
    assert r.exit_code == 0, r.output
    assert pvc("config", "remote.origin.backoff", "0.05").exit_code == 0
    assert pvc("config", "remote.origin.timeout", "10").exit_code == 0


def commit(pvc, name: str, text: str, msg: str) -> None:
    Path(name).write_text(text)
    assert pvc("add", name).exit_code == 0
    r = pvc("commit", "-m", msg)
    assert r.exit_code == 0, r.output


def head(branch: str | None = None) -> str:
    from promptvc.repo import Repo

    r = Repo.open()
    try:
        return r.store.get_ref("refs/heads/" + branch) if branch else r.head()
    finally:
        r.close()


def local_mapping(branch: str):
    from promptvc.repo import Repo

    r = Repo.open()
    try:
        return r.store.branch_db("origin", branch)
    finally:
        r.close()


def replica_files(db: str) -> list[str]:
    d = Path(".pvc/remotes")
    return sorted(p.name for p in d.glob(f"origin@{db}.db*")) if d.exists() else []


CREATED = re.compile(r"Created branch (\S+) at [0-9a-f]{8} with database (\S+)\n  (\S+)\n")


# -- the Platform API contract, TursoBackend directly -----------------------------------------
def test_create_sends_documented_request_and_returns_a_real_database(fake, turso_sqld):
    main = main_db(fake)
    with HranaClient(fake.http_url(main)) as c:
        c.batch([("CREATE TABLE t (v TEXT)", ()), ("INSERT INTO t VALUES ('seeded')", ())])
    name = uniq("br")
    db = backend(fake, main).create(main, name, timestamp=TS)
    assert db == BranchDb(name, f"libsql://{name}.localhost:{turso_sqld.http_port}?tls=0")
    [req] = fake.requests
    assert (req.method, req.path, req.query) == ("POST", f"/v1/organizations/{ORG}/databases", {})
    assert req.headers["authorization"] == f"Bearer {fake.token}"
    assert req.headers["content-type"] == "application/json"
    assert req.body == {"name": name, "group": "default",
                        "seed": {"type": "database", "name": main, "timestamp": TS}}
    # the branch database is real, reachable at the returned URL, and a copy of its parent
    assert query(db.url, "SELECT v FROM t") == [["seeded"]]
    with HranaClient(http_url(db.url)) as c:
        c.execute("INSERT INTO t VALUES ('branch only')")
    assert query(fake.libsql_url(main), "SELECT count(*) FROM t") == [[1]]
    # without a timestamp the seed has no timestamp key at all
    other = uniq("br")
    backend(fake, main).create(main, other)
    assert fake.requests[-1].body == {"name": other, "group": "default",
                                      "seed": {"type": "database", "name": main}}


def test_create_in_a_configured_group_and_400_carries_the_group_hint(fake, turso_sqld):
    main = main_db(fake)
    fake.groups.add("staging")
    name = uniq("br")
    backend(fake, main, group="staging").create(main, name)
    assert fake.requests[-1].body["group"] == "staging"
    # unknown group: 400 -> "refused to create", with a hint naming the group and the parent
    bad = uniq("br")
    with pytest.raises(BackendError) as ei:
        backend(fake, main, group="nope").create(main, bad)
    assert ei.value.status == 400
    assert ei.value.message == f"Turso refused to create '{bad}': group nope not found"
    assert ei.value.hint == f"check that group 'nope' and database '{main}' exist"
    no_secret(ei.value, fake.token)
    # unknown seed parent: 400 as well
    with pytest.raises(BackendError) as ei:
        backend(fake, main).create("no-such-db", bad)
    assert ei.value.status == 400 and "refused to create" in ei.value.message
    assert "database 'no-such-db'" in ei.value.hint
    assert bad not in fake.databases and not turso_sqld.namespace_exists(bad)


def test_create_409_means_already_exists(fake):
    main = main_db(fake)
    name = uniq("br")
    b = backend(fake, main)
    b.create(main, name)
    with pytest.raises(BackendError) as ei:
        b.create(main, name)
    assert ei.value.status == 409
    assert ei.value.message == f"Turso: a database named '{name}' already exists"
    assert "a new name is picked each time" in ei.value.hint
    assert name in fake.databases  # the existing database is untouched
    assert [r.method for r in fake.requests] == ["POST", "POST"]
    no_secret(ei.value, fake.token)


def test_delete_path_and_404_returns_false(fake, turso_sqld):
    main = main_db(fake)
    name = uniq("br")
    b = backend(fake, main)
    b.create(main, name)
    assert turso_sqld.namespace_exists(name)
    assert b.delete(name) is True
    req = fake.requests[-1]
    assert (req.method, req.path, req.query, req.body) == (
        "DELETE", f"/v1/organizations/{ORG}/databases/{name}", {}, None)
    assert req.headers["authorization"] == f"Bearer {fake.token}"
    assert not turso_sqld.namespace_exists(name)
    assert b.delete(name) is False  # 404
    fake.fail_next("DELETE", f"/databases/{name}", 500, {"error": "internal"})
    with pytest.raises(BackendError) as ei:
        b.delete(name)
    assert ei.value.status == 500
    assert ei.value.message == f"Turso could not delete '{name}' (HTTP 500: internal)"


def test_list_children_filters_by_parent_db_id(fake):
    main = main_db(fake)
    b = backend(fake, main)
    c1, c2, grand = uniq("c1"), uniq("c2"), uniq("gc")
    b.create(main, c1)
    b.create(main, c2)
    b.create(c1, grand)
    kids = b.list_children(f"db-{main}")
    req = fake.requests[-1]
    assert (req.method, req.path, req.query) == (
        "GET", f"/v1/organizations/{ORG}/databases", {"parent": f"db-{main}"})
    assert sorted(k["Name"] for k in kids) == sorted([c1, c2])
    c1_id = fake.databases[c1].db_id
    assert [k["Name"] for k in b.list_children(c1_id)] == [grand]


def test_mint_token_query_and_answer(fake):
    main = main_db(fake)
    name = uniq("br")
    b = backend(fake, main)
    b.create(main, name)
    jwt = b.mint_token(name)
    req = fake.requests[-1]
    assert (req.method, req.path) == (
        "POST", f"/v1/organizations/{ORG}/databases/{name}/auth/tokens")
    assert req.query == {"expiration": "never", "authorization": "read-only"}
    assert req.headers["authorization"] == f"Bearer {fake.token}"
    assert jwt == fake.minted[-1]["jwt"]
    assert fake.minted[-1]["authorization"] == "read-only"
    b.mint_token(name, read_only=False, expiration="2w")
    assert fake.requests[-1].query == {"expiration": "2w", "authorization": "full-access"}
    with pytest.raises(BackendError) as ei:
        b.mint_token("no-such-db")
    assert ei.value.status == 404 and "could not mint a token for 'no-such-db'" in ei.value.message


def test_401_on_every_call_and_the_token_is_never_in_a_message(fake):
    main = main_db(fake)
    wrong = "plat-WRONG-" + uuid.uuid4().hex
    b = backend(fake, main, token=wrong)
    calls = [lambda: b.create(main, uniq("br")), lambda: b.delete(main),
             lambda: b.list_children(f"db-{main}"), lambda: b.mint_token(main)]
    for call in calls:
        with pytest.raises(BackendError) as ei:
            call()
        assert ei.value.status == 401
        assert ei.value.message == "Turso rejected the platform token (HTTP 401)"
        assert ei.value.hint == "set $TURSO_API_TOKEN to a valid platform API token"
        no_secret(ei.value, wrong, fake.token)
    assert len(fake.requests) == 4
    assert all(r.headers["authorization"] == f"Bearer {wrong}" for r in fake.requests)
    assert sorted(fake.databases) == [main]  # nothing was created, nothing deleted


def test_no_platform_token_sends_nothing(fake):
    main = main_db(fake)
    b = backend(fake, main, token=None)
    for call in (lambda: b.create(main, uniq("br")), lambda: b.delete(main),
                 lambda: b.mint_token(main)):
        with pytest.raises(BackendError) as ei:
            call()
        assert ei.value.message == "no Turso platform token"
        assert "$TURSO_API_TOKEN" in ei.value.hint
    assert fake.requests == []


def test_other_failures_name_the_status_and_never_the_token(fake):
    main = main_db(fake)
    b = backend(fake, main)
    fake.fail_next("POST", "/databases", 500, {"error": "try later"})
    with pytest.raises(BackendError) as ei:
        b.create(main, "x-1")
    assert ei.value.status == 500
    assert ei.value.message == "Turso could not create 'x-1' (HTTP 500: try later)"
    no_secret(ei.value, fake.token)
    # a 200 without the documented shape is an error, not a crash
    fake.fail_next("POST", "/databases", 200, {"ok": True})
    with pytest.raises(BackendError) as ei:
        b.create(main, "x-2")
    assert "could not create 'x-2' (HTTP 200" in ei.value.message
    # unreachable API
    port = fake.port
    dead = TursoBackend(ORG, fake.token, fake.libsql_url(main),
                        api_url=f"http://127.0.0.1:{port}", timeout=2.0)
    fake.stop()
    with pytest.raises(BackendError) as ei:
        dead.create(main, "x-3")
    assert ei.value.message.startswith(f"cannot reach 127.0.0.1:{port}: ")
    no_secret(ei.value, fake.token)
    with pytest.raises(BackendError) as ei:
        dead.freeze("x-3")
    assert "no per-database write block" in ei.value.message


def test_a_server_echoing_the_token_does_not_leak_it(fake):
    main = main_db(fake)
    fake.fail_next("POST", "/databases", 500, {"error": f"bad header Bearer {fake.token}"})
    with pytest.raises(BackendError) as ei:
        backend(fake, main).create(main, "x-1")
    no_secret(ei.value, fake.token)


def test_urls_and_names():
    port = 8080
    local = f"libsql://prompts.localhost:{port}?tls=0"
    b = TursoBackend(ORG, None, local)
    # the fake's URLs: first host label is the database; the -ORG suffix only when present
    assert b.database_of_url(local) == "prompts"
    assert b.database_of_url(f"libsql://prompts-x.localhost:{port}?tls=0") == "prompts-x"
    assert b.url_of_hostname(f"br-1.localhost:{port}") == f"libsql://br-1.localhost:{port}?tls=0"
    assert http_url(b.url_of_hostname(f"br-1.localhost:{port}")) == f"http://br-1.localhost:{port}"
    # real Turso hostnames: <db>-<org>.turso.io
    cloud = TursoBackend(ORG, None, "libsql://prompts-acme.turso.io")
    assert cloud.database_of_url("libsql://prompts-acme.turso.io") == "prompts"
    assert cloud.database_of_url("https://team-acme-acme.turso.io") == "team-acme"
    assert cloud.database_of_url("libsql://prompts-other.turso.io") == "prompts-other"
    assert cloud.url_of_hostname("prompts-exp-1-acme.turso.io") == \
        "libsql://prompts-exp-1-acme.turso.io"
    # database names: [a-z0-9-], at most 64, never reused
    names = {new_db_name("prompts", "Feature/Über_LONG " + "x" * 80) for _ in range(20)}
    assert len(names) == 20
    for n in names:
        assert re.fullmatch(r"[a-z0-9-]{1,64}", n) and not n.startswith("-"), n
        assert n.startswith("prompts-feature-")


def test_remote_config_builds_the_backend(tmp_path, pvc, monkeypatch):
    from promptvc.remote.remotes import get_remote
    from promptvc.repo import Repo

    monkeypatch.chdir(tmp_path)
    assert pvc("init").exit_code == 0
    r = pvc("remote", "add", "origin", "libsql://prompts-acme.turso.io", "--turso-org", ORG,
            "--turso-group", "eu", "--platform-token-env", "MY_PLAT",
            "--turso-api-url", "http://127.0.0.1:9")
    assert r.exit_code == 0, r.output
    assert "branch databases in Turso organisation acme" in r.stdout
    monkeypatch.setenv("MY_PLAT", "plat-secret")
    monkeypatch.setenv("TURSO_API_TOKEN", "not-this-one")
    repo = Repo.open()
    try:
        b = get_remote(repo.config, "origin").backend()
    finally:
        repo.close()
    assert isinstance(b, TursoBackend)
    assert (b.org, b.group, b.api_url, b.api_token) == (ORG, "eu", "http://127.0.0.1:9",
                                                        "plat-secret")
    assert "plat-secret" not in Path(".pvc/config").read_text()
    assert pvc("remote", "--json").stdout.count('"branch_databases": "turso"') == 1


# -- end to end through the CLI ---------------------------------------------------------------
def test_branch_database_lifecycle(tmp_path, pvc, monkeypatch, fake, turso_sqld):
    port = turso_sqld.http_port
    main_url = fake.libsql_url("prompts")
    main_db(fake, "prompts")
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, "prompts")
    outputs = []

    def run(*args):
        r = pvc(*args)
        outputs.append(r.output)
        return r

    commit(pvc, "p.md", "You are helpful.\n", "first")
    assert run("push").exit_code == 0
    base = head()

    # pvc branch exp-b: one POST, seeded from the main database
    r = run("branch", "exp-b")
    assert r.exit_code == 0, r.output
    m = CREATED.fullmatch(r.stdout)
    assert m and m.group(1) == "exp-b", r.stdout
    db_b, url_b = m.group(2), m.group(3)
    assert re.fullmatch(r"prompts-exp-b-[0-9a-f]{6}", db_b)
    assert url_b == f"libsql://{db_b}.localhost:{port}?tls=0"
    [post] = fake.calls("POST", "/databases")
    assert post.headers["authorization"] == f"Bearer {fake.token}"
    assert post.body == {"name": db_b, "group": "default",
                         "seed": {"type": "database", "name": "prompts"}}
    assert turso_sqld.namespace_exists(db_b)
    # the mapping is on the main database (every clone sees it) and in the local repository
    assert query(main_url, "SELECT branch, db_name, url, parent, state FROM branch_dbs") == [
        ["exp-b", db_b, url_b, "main", "active"]]
    assert local_mapping("exp-b").db_name == db_b

    # commit on exp-b and push: it goes to the branch database only
    assert run("switch", "exp-b").exit_code == 0
    commit(pvc, "p.md", "You are helpful.\nCite sources.\n", "b: cite")
    r = run("push")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"To {url_b}\n")
    tip = head()
    assert query(url_b, "SELECT target FROM refs WHERE name = 'refs/heads/exp-b'") == [[tip]]
    [[vid]] = query(url_b, "SELECT version_id FROM changes WHERE commit_id = ? AND path = 'p.md'",
                    (tip,))
    assert query(url_b, "SELECT count(*) FROM versions WHERE id = ?", (vid,)) == [[1]]
    assert query(url_b, "SELECT target FROM refs WHERE name = 'refs/heads/main'") == [[base]]
    assert query(main_url, "SELECT count(*) FROM refs WHERE name = 'refs/heads/exp-b'") == [[0]]
    assert query(main_url, "SELECT count(*) FROM commits WHERE id = ?", (tip,)) == [[0]]
    assert query(main_url, "SELECT count(*) FROM versions WHERE id = ?", (vid,)) == [[0]]
    # a clone of the main database finds the branch through the recorded mapping
    monkeypatch.chdir(tmp_path)
    assert run("clone", main_url, "b").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    assert run("show", "origin/exp-b:p.md").stdout == "You are helpful.\nCite sources.\n"
    monkeypatch.chdir(tmp_path / "a")

    # a branch of a branch is seeded from the branch's database
    r = run("branch", "exp-c")
    assert r.exit_code == 0, r.output
    db_c = CREATED.fullmatch(r.stdout).group(2)
    assert fake.calls("POST", "/databases")[-1].body["seed"] == {"type": "database",
                                                                  "name": db_b}
    assert fake.databases[db_c].parent_id == fake.databases[db_b].db_id

    # branch -v shows each database and its URL
    r = run("branch", "-v")
    assert r.exit_code == 0
    lines = {ln[2:].split()[0]: ln for ln in r.stdout.splitlines()}
    assert lines["exp-b"].startswith("* exp-b")
    assert lines["exp-b"].endswith(f"  [{db_b} {url_b}]")
    assert lines["exp-c"].endswith(f"  [{db_c} libsql://{db_c}.localhost:{port}?tls=0]")
    assert "[" not in lines["main"]
    listed = json.loads(run("branch", "--json").stdout)
    assert {b["name"]: b["database"] for b in listed} == {"exp-b": db_b, "exp-c": db_c,
                                                          "main": None}

    # branch url NAME --token-file F: a read-only token for that database, into a 0600 file
    tok = tmp_path / "exp-b.token"
    r = run("branch", "url", "exp-b", "--token-file", str(tok))
    assert r.exit_code == 0, r.output
    assert r.stdout == url_b + "\n"
    assert r.stderr == f"wrote a read-only token for {db_b} to {tok}\n"
    minted = fake.minted[-1]
    assert (minted["database"], minted["authorization"]) == (db_b, "read-only")
    assert tok.read_text() == minted["jwt"] + "\n"
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    assert fake.calls("POST", f"/databases/{db_b}/auth/tokens")[-1].query == {
        "expiration": "never", "authorization": "read-only"}
    assert run("branch", "url", "exp-b").stdout == url_b + "\n"  # no token file: no API call
    assert len(fake.calls("POST", r"/databases/.*/auth/tokens")) == 1

    # fetch keeps one replica per branch database
    r = run("fetch")
    assert r.exit_code == 0, r.output
    assert f"origin@{db_b}.db" in replica_files(db_b)

    # an unmerged branch with a database is not deleted without -D
    assert run("switch", "main").exit_code == 0
    r = run("branch", "-d", "exp-c")
    assert r.exit_code == 1
    assert r.stderr == ("error: branch 'exp-c' is not fully merged into main\nhint: merge it "
                        "first, or delete it and its database anyway with "
                        "`pvc branch -D exp-c`\n")
    assert fake.calls("DELETE") == [] and turso_sqld.namespace_exists(db_c)

    # merge --delete-branch: fast-forward, push main, delete the database and its replica
    r = run("merge", "exp-b", "--delete-branch")
    assert r.exit_code == 0, r.output
    assert "Fast-forward" in r.stdout
    assert f"Deleted branch exp-b and its database {db_b}\n" in r.stdout
    assert [c.path for c in fake.calls("DELETE")] == [
        f"/v1/organizations/{ORG}/databases/{db_b}"]
    assert not turso_sqld.namespace_exists(db_b)
    assert db_b not in fake.databases
    assert replica_files(db_b) == []
    assert head() == tip and head("exp-b") is None
    assert local_mapping("exp-b").state == "deleted"
    assert query(main_url, "SELECT target FROM refs WHERE name = 'refs/heads/main'") == [[tip]]
    assert query(main_url, "SELECT state FROM branch_dbs WHERE branch = 'exp-b'") == [["deleted"]]

    # exp-c is merged now: -d deletes it and its database
    r = run("branch", "-d", "exp-c")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Deleted branch exp-c (was {tip[:8]}) and its database {db_c}.\n"
    assert not turso_sqld.namespace_exists(db_c) and replica_files(db_c) == []
    assert sorted(fake.databases) == ["prompts"]

    r = run("fsck")
    assert r.exit_code == 0, r.output
    assert run("branch", "-v").stdout == f"* main {tip[:8]} b: cite\n"
    # neither the platform token nor a minted token was ever printed
    for out in outputs:
        assert fake.token not in out and minted["jwt"] not in out


def test_force_delete_of_unmerged_branch_and_401_changes_nothing(tmp_path, pvc, monkeypatch,
                                                                 fake, turso_sqld):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main)
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0
    r = pvc("branch", "exp-x")
    assert r.exit_code == 0, r.output
    db = CREATED.fullmatch(r.stdout).group(2)
    assert pvc("switch", "exp-x").exit_code == 0
    commit(pvc, "p.md", "two\n", "x: two")
    assert pvc("push").exit_code == 0
    tip = head()
    assert pvc("switch", "main").exit_code == 0
    r = pvc("branch", "-d", "exp-x")
    assert r.exit_code == 1
    assert r.stderr == ("error: branch 'exp-x' is not fully merged into main\nhint: merge it "
                        "first, or delete it and its database anyway with "
                        "`pvc branch -D exp-x`\n")
    # a rejected platform token: an explained error, and nothing changed anywhere
    monkeypatch.setenv("TURSO_API_TOKEN", "plat-wrong")
    r = pvc("branch", "-D", "exp-x")
    assert r.exit_code == 1
    assert r.stderr == ("error: Turso rejected the platform token (HTTP 401)\n"
                        "hint: set $TURSO_API_TOKEN to a valid platform API token\n")
    assert head("exp-x") == tip and local_mapping("exp-x").state == "active"
    assert turso_sqld.namespace_exists(db)
    monkeypatch.setenv("TURSO_API_TOKEN", fake.token)
    r = pvc("branch", "-D", "exp-x")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Deleted branch exp-x (was {tip[:8]}) and its database {db}.\n"
    assert [c.path for c in fake.calls("DELETE")] == [
        f"/v1/organizations/{ORG}/databases/{db}"] * 2
    assert not turso_sqld.namespace_exists(db)
    assert pvc("fsck").exit_code == 0


def _nothing_left(pvc, fake, main: str, branch: str) -> None:
    assert pvc("branch").stdout == "* main\n"
    assert head(branch) is None and local_mapping(branch) is None
    assert query(fake.libsql_url(main), "SELECT count(*) FROM branch_dbs") == [[0]]
    assert list(Path(".pvc").glob("remotes/origin@*")) == []


def test_create_whose_mapping_cannot_be_recorded_leaves_no_orphan(tmp_path, pvc, monkeypatch,
                                                                   fake, turso_sqld):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main)
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0

    def block_main(_name: str) -> None:  # the main database refuses the record write
        turso_sqld.admin_request("POST", f"/v1/namespaces/{main}/config",
                                 {"block_reads": False, "block_writes": True})

    fake.after_create = block_main
    try:
        r = pvc("branch", "exp-b")
        assert r.exit_code == 1
        assert r.stderr.startswith("error: record the branch database failed at "
                                   f"{main}.localhost:{turso_sqld.http_port}: ")
        [post] = fake.calls("POST", "/databases")
        name = post.body["name"]
        # pvc deleted the database it had just created
        assert [c.path for c in fake.calls("DELETE")] == [
            f"/v1/organizations/{ORG}/databases/{name}"]
        assert not turso_sqld.namespace_exists(name) and sorted(fake.databases) == [main]

        # ... and when that delete fails too, it says so and how to clean up by hand
        fake.fail_next("DELETE", r"/databases/.*", 500, {"error": "down"})
        r = pvc("branch", "exp-b")
        assert r.exit_code == 1
        orphan = fake.calls("POST", "/databases")[-1].body["name"]
        assert r.stderr.startswith(f"error: the branch database {orphan} was created but could "
                                   "not be recorded (record the branch database failed at ")
        assert r.stderr.endswith(f"and deleting it failed too\nhint: delete it by hand: "
                                 f"turso db destroy {orphan}\n")
        assert fake.token not in r.output
    finally:
        fake.after_create = None
        turso_sqld.admin_request("POST", f"/v1/namespaces/{main}/config",
                                 {"block_reads": False, "block_writes": False})
    _nothing_left(pvc, fake, main, "exp-b")


def test_create_refused_by_the_api_leaves_nothing(tmp_path, pvc, monkeypatch, fake, turso_sqld):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main, token=False)
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0
    # no platform token: nothing is sent
    r = pvc("branch", "exp-b")
    assert r.exit_code == 1
    assert r.stderr == ("error: no Turso platform token\n"
                        "hint: set $TURSO_API_TOKEN (or the remote's platform_token_env)\n")
    assert fake.requests == []
    monkeypatch.setenv("TURSO_API_TOKEN", fake.token)
    # 409: the name is taken; pvc must not delete a database it did not create
    fake.fail_next("POST", "/databases", 409, {"error": "database already exists"})
    r = pvc("branch", "exp-b")
    assert r.exit_code == 1
    name = fake.calls("POST")[-1].body["name"]
    assert r.stderr == (f"error: Turso: a database named '{name}' already exists\n"
                        "hint: run the command again (a new name is picked each time)\n")
    assert fake.calls("DELETE") == []
    _nothing_left(pvc, fake, main, "exp-b")
    # --at seeds from a point in time; the retry picks a new name
    r = pvc("branch", "exp-b", "--at", TS)
    assert r.exit_code == 0, r.output
    body = fake.calls("POST")[-1].body
    assert body["name"] != name and body["seed"] == {"type": "database", "name": main,
                                                     "timestamp": TS}
    assert turso_sqld.namespace_exists(body["name"])


def test_unknown_group_is_explained(tmp_path, pvc, monkeypatch, fake):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main, "--turso-group", "staging")
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0
    r = pvc("branch", "exp-b")
    assert r.exit_code == 1
    name = fake.calls("POST")[-1].body["name"]
    assert fake.calls("POST")[-1].body["group"] == "staging"
    assert r.stderr == (f"error: Turso refused to create '{name}': group staging not found\n"
                        f"hint: check that group 'staging' and database '{main}' exist\n")
    _nothing_left(pvc, fake, main, "exp-b")


def test_token_file_is_0600_even_if_it_existed(tmp_path, pvc, monkeypatch, fake):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main)
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0
    assert pvc("branch", "exp-b").exit_code == 0
    tok = tmp_path / "tok"
    tok.write_text("old\n")
    tok.chmod(0o644)
    r = pvc("branch", "url", "exp-b", "--token-file", str(tok))
    assert r.exit_code == 0, r.output
    assert tok.read_text() == fake.minted[-1]["jwt"] + "\n"
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600


def test_freeze_branch_on_turso_is_refused_before_merging(tmp_path, pvc, monkeypatch, fake):
    main = main_db(fake)
    setup_repo(tmp_path / "a", pvc, monkeypatch, fake, main)
    commit(pvc, "p.md", "one\n", "first")
    assert pvc("push").exit_code == 0
    base = head()
    assert pvc("branch", "exp-b").exit_code == 0
    assert pvc("switch", "exp-b").exit_code == 0
    commit(pvc, "p.md", "two\n", "b: two")
    assert pvc("push").exit_code == 0
    assert pvc("switch", "main").exit_code == 0
    r = pvc("merge", "exp-b", "--freeze-branch")
    assert r.exit_code == 1
    assert "no per-database write block" in r.stderr
    # a refused command changes nothing: main neither merged locally nor pushed
    assert head() == base
    assert query(fake.libsql_url(main),
                 "SELECT target FROM refs WHERE name = 'refs/heads/main'") == [[base]]
