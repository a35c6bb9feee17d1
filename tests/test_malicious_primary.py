"""A hostile or damaged primary (a real sqld whose rows are written directly) and a crafted
git repository: pvc refuses each with a clear message, writes nothing outside the repository,
sends the token nowhere else, and leaves the local repository as it was."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest

from promptvc.remote.hrana import HranaClient

pytestmark = pytest.mark.sqld


CLONING = "Cloning into 'victim'...\n"
HINT = ("hint: the remote holds a name pvc refuses; nothing was fetched (your local repository "
        "was not changed)\n")


# -- helpers --------------------------------------------------------------------------------
class Listener:
    """A loopback HTTP server on its own port (the 'foreign host'): records every request's
    headers and answers with STATUS and BODY (BODY may contain '{auth}', replaced by the
    Authorization header it received: a server that echoes credentials)."""

    def __init__(self, status: int = 500, body: str = '{"error": "nope"}'):
        seen = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                seen.append((self.command, self.path, dict(self.headers)))
                data = body.replace("{auth}", self.headers.get("Authorization", "")).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorizations(self) -> list[str]:
        return [h["Authorization"] for _, _, h in self.requests if "Authorization" in h]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ROOT (outside .pvc/) with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".pvc" not in p.relative_to(root).parts}


def state(pvc) -> tuple:
    """What a fetch may change: refs (with remote-tracking) and the log."""
    return (pvc("branch", "-a").stdout, pvc("tag").stdout, pvc("log", "--oneline").stdout)


def evil_push(tmp_path: Path, url: str, files: dict[str, bytes], monkeypatch, pvc,
              branch: str = "main") -> None:
    """Push to URL a well-formed commit (ids match) whose tree holds FILES, names pvc would
    refuse included (pvc's own checks are switched off in this process only)."""
    from promptvc import commits as commits_mod  # the commit writer checks every name it stores
    from promptvc.remote import transfer
    from promptvc.remote.remotes import get_remote
    from promptvc.repo import Repo

    evil = tmp_path / "evil"
    evil.mkdir()
    monkeypatch.chdir(evil)
    assert pvc("init").exit_code == 0
    assert pvc("remote", "add", "origin", url).exit_code == 0
    Path("ok.md").write_text("fine\n")
    pvc("add", "ok.md")
    assert pvc("commit", "-m", "fine").exit_code == 0
    if branch == "main":
        assert pvc("push").exit_code == 0
    else:
        assert pvc("switch", "-c", branch).exit_code == 0
    with monkeypatch.context() as m:
        m.setattr(commits_mod, "check_path", lambda p, **k: p)
        r = Repo.open()
        try:
            r.commit_files(files, "evil", author="Eve <eve@example.com>", branch=branch)
            transfer.push(r, get_remote(r.config, "origin"), branch)
        finally:
            r.close()


# -- bad tree paths from the primary ----------------------------------------------------------
@pytest.mark.parametrize("bad, why", [
    ("../newdir/x.md", "it has a '..' component"),
    ("sub/../sub2/x.md", "it has a '..' component"),
    ("/tmp/abs.md", "it is absolute"),
    (".pvc/config", "it is inside .pvc/, pvc's own folder"),
    ("a" * 250 + ".md", "the name"),
])
def test_clone_refuses_bad_tree_paths(tmp_path, pvc, monkeypatch, sqld_namespace, canary_token,
                                      bad, why):
    evil_push(tmp_path, sqld_namespace.url, {bad: b"owned\n"}, monkeypatch, pvc)
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", sqld_namespace.url, "victim")
    assert r.exit_code == 1
    shown = bad if len(bad) < 100 else None
    if shown:
        assert r.stderr == (f"{CLONING}error: pvc cannot store the file name '{bad}' from the "
                            f"primary 'origin': {why}\n{HINT}")
    else:
        assert "longer than 246 bytes" in r.stderr
    assert r.stderr.endswith(HINT)
    assert "Traceback" not in r.output
    assert not (tmp_path / "victim").exists()  # no half-made clone blocks the retry
    assert not (tmp_path / "newdir").exists() and not Path("/tmp/abs.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil"]


def test_fetch_refuses_bad_tree_and_leaves_repo_as_it_was(tmp_path, pvc, monkeypatch,
                                                          sqld_namespace):
    url = sqld_namespace.url
    (tmp_path / "seed").mkdir()
    monkeypatch.chdir(tmp_path / "seed")
    pvc("init")
    pvc("remote", "add", "origin", url)
    Path("p.md").write_text("v1\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "v1")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "victim").exit_code == 0
    victim = tmp_path / "victim"
    monkeypatch.chdir(victim)
    before, files = state(pvc), snapshot(victim)
    monkeypatch.chdir(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "seed")
    evil_push(tmp_path, url, {"sub/../../escaped.md": b"owned\n"}, monkeypatch, pvc,
              branch="evil")
    monkeypatch.chdir(victim)
    for cmd in (("fetch",), ("pull",)):
        r = pvc(*cmd)
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith("error: pvc cannot store the file name 'sub/../../escaped.md' "
                                   "from the primary 'origin': it has a '..' component\n")
    assert state(pvc) == before
    assert snapshot(victim) == files
    assert not (tmp_path / "escaped.md").exists()
    assert pvc("fsck").exit_code == 0


def test_control_character_name_from_primary_refused(tmp_path, pvc, monkeypatch, sqld_namespace):
    evil_push(tmp_path, sqld_namespace.url, {"a\x0cb.md": b"x\n"}, monkeypatch, pvc)
    monkeypatch.chdir(tmp_path)
    r = pvc("clone", sqld_namespace.url, "victim")
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert r.stderr == (CLONING + "error: pvc cannot store the file name 'a\\x0cb.md' from the "
                        "primary 'origin': it contains a line break (\\x0c)\n" + HINT)
    assert not (tmp_path / "victim").exists()


# -- rows written directly ---------------------------------------------------------------------
def _seeded(tmp_path, pvc, monkeypatch, url):
    (tmp_path / "seed").mkdir()
    monkeypatch.chdir(tmp_path / "seed")
    pvc("init")
    pvc("remote", "add", "origin", url)
    Path("p.md").write_text("v1\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "v1")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)


def _write_as_pvc(client: HranaClient, statements: list) -> None:
    """Rows written straight into the primary, announced as a format-2 writer would (the
    primary's writer guard is for honest old clients, not a defence against an attacker)."""
    from promptvc.store.primary import announced

    client.batch(announced([(s, ()) if isinstance(s, str) else s for s in statements]))


@pytest.mark.parametrize("sql, expect", [
    ("UPDATE refs SET target = '../../../etc/passwd' WHERE name = 'refs/heads/main'",
     "error: the primary 'origin' sent a bad target for 'refs/heads/main' "
     "'../../../etc/passwd'; nothing was fetched\n"),
    ("INSERT INTO refs (name, target, updated_at) VALUES ('refs/heads/a..b', "
     "(SELECT target FROM refs WHERE name = 'refs/heads/main'), 'x')",
     "error: the primary 'origin' sent a ref with a bad name 'refs/heads/a..b'; nothing was "
     "fetched\n"),
    ("INSERT INTO branch_dbs VALUES ('exp', '../../outside', 'http://x.localhost:1', 'main', "
     "'x', 'active')",
     "error: the primary 'origin' sent a bad branch database row for 'exp' (origin names a "
     "branch database '../../outside' that is not a valid database name); nothing was fetched\n"),
    ("UPDATE versions SET size = 1099511627776 WHERE kind = 'prompt'",
     None),
    ("UPDATE versions SET data = X'00' WHERE kind = 'prompt'",
     None),
    ("UPDATE commits SET message = 'forged'",
     None),
])
def test_bad_rows_refused(tmp_path, pvc, monkeypatch, sqld_namespace, sql, expect):
    url = sqld_namespace.url
    _seeded(tmp_path, pvc, monkeypatch, url)
    with HranaClient(url) as c:
        _write_as_pvc(c, ["CREATE TABLE IF NOT EXISTS branch_dbs (branch TEXT PRIMARY KEY, db_name TEXT "
                 "NOT NULL, url TEXT NOT NULL, parent TEXT, created_at TEXT NOT NULL, state TEXT "
                 "NOT NULL)", sql])
    r = pvc("clone", url, "victim")
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    if expect:
        assert r.stderr.startswith(CLONING + expect)
    else:
        assert r.stderr.startswith(CLONING + "error: ")
        assert "hint: " in r.stderr
    assert not (tmp_path / "victim").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed"]


# -- tokens go only where they were given for -------------------------------------------------
def test_branch_db_on_foreign_host_gets_no_token(tmp_path, pvc, monkeypatch, sqld_namespace,
                                                 canary_token, listener):
    url = sqld_namespace.url
    _seeded(tmp_path, pvc, monkeypatch, url)
    with HranaClient(url) as c:
        _write_as_pvc(c, ["CREATE TABLE IF NOT EXISTS branch_dbs (branch TEXT PRIMARY KEY, db_name TEXT "
                 "NOT NULL, url TEXT NOT NULL, parent TEXT, created_at TEXT NOT NULL, state TEXT "
                 "NOT NULL)",
                 ("INSERT INTO branch_dbs VALUES ('exp', 'exp-1', ?, 'main', 'x', 'active')",
                  (listener.url,))])
    r = pvc("clone", url, "victim")
    # the foreign "branch database" may be unreachable; what matters is what it was sent
    assert canary_token not in r.output
    assert listener.authorizations() == []
    assert not any(canary_token in json.dumps(h) for _, _, h in listener.requests)


def test_token_is_sent_to_the_configured_host_only():
    from promptvc.remote.remotes import Remote

    home = Remote("origin", "http://localhost:8080")
    assert home.for_database("http://exp-1.localhost:8080").on_home_server
    assert not home.for_database("http://127.0.0.1:9999").on_home_server
    assert not home.for_database("http://exp.evil.example:8080").on_home_server
    assert not home.for_database("http://exp-1.localhost:8081").on_home_server
    assert not home.for_database("https://exp-1.localhost:8080").on_home_server


def test_token_bound_even_with_env(monkeypatch):
    from promptvc.remote.remotes import Remote

    monkeypatch.setenv("TURSO_AUTH_TOKEN", "canary-bound-1234")
    home = Remote("origin", "http://localhost:8080")
    assert home.token() == "canary-bound-1234"
    assert home.for_database("http://exp.localhost:8080").token() == "canary-bound-1234"
    assert home.for_database("http://127.0.0.1:9999").token() is None


@pytest.mark.parametrize("as_json", [False, True])
def test_echoed_authorization_is_redacted(tmp_path, pvc, monkeypatch, canary_token, as_json):
    lst = Listener(status=400, body='{"error": "bad request; you sent Authorization: {auth}"}')
    try:
        (tmp_path / "r").mkdir()
        monkeypatch.chdir(tmp_path / "r")
        pvc("init")
        pvc("remote", "add", "origin", lst.url)
        pvc("config", "remote.origin.retries", "1")
        Path("p.md").write_text("v1\n")
        pvc("add", "p.md")
        pvc("commit", "-m", "v1")
        r = pvc("push", *(["--json"] if as_json else []))
        assert lst.authorizations() == [f"Bearer {canary_token}"]  # it did get it: home host
        assert r.exit_code == 1
        assert canary_token not in r.output
        assert "Bearer ***" in r.output
    finally:
        lst.close()


def test_admin_api_echo_redacted():
    from promptvc.remote.db_backends import SqldBackend

    lst = Listener(status=500, body='{"error": "denied for {auth}"}')
    try:
        b = SqldBackend(lst.url, "http://localhost:8080", admin_key="canary-admin-key-99")
        with pytest.raises(Exception) as ei:
            b.create("main", "exp-1")
        assert "canary-admin-key-99" not in str(ei.value)
        assert "Basic ***" in str(ei.value)
    finally:
        lst.close()


# -- a crafted git repository -----------------------------------------------------------------
def test_import_git_with_unstorable_names(tmp_path, pvc, monkeypatch):
    src = tmp_path / "g"
    src.mkdir()

    def git(*args):
        subprocess.run(["git", *args], cwd=src, check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "PATH": "/usr/bin:/bin",
                            "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x",
                            "HOME": str(tmp_path)})

    git("init", "-q", "-b", "main")
    (src / "ok.md").write_text("ok\n")
    (src / "a\x0cb.md").write_text("ff\n")
    (src / ("n" * 250 + ".md")).write_text("long\n")
    (src / "a\u2028b.md").write_text("ls\n")
    git("add", "-A")
    git("commit", "-q", "-m", "crafted")
    (tmp_path / "r").mkdir()
    monkeypatch.chdir(tmp_path / "r")
    pvc("init")
    r = pvc("import", "git", str(src))
    assert r.exit_code == 0, r.output
    assert "Skipped 3 paths pvc cannot store" in r.stdout
    assert pvc("status").exit_code == 0
    assert pvc("fsck").exit_code == 0
    assert sorted(p.name for p in Path(".").iterdir() if p.name != ".pvc") == ["ok.md"]
