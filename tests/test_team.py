"""Team settings: a clone inherits the branch-database backend from the primary (never a
token), and a branch that gets no database says why. Against a real sqld."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from promptvc.remote.hrana import HranaClient

pytestmark = pytest.mark.sqld


def team_rows(url: str) -> dict[str, str]:
    with HranaClient(url) as c:
        return dict(c.execute("SELECT key, value FROM team_settings").rows)


@pytest.fixture
def primary(tmp_path, pvc, monkeypatch, server):
    a = tmp_path / "a"
    a.mkdir()
    monkeypatch.chdir(a)
    assert pvc("init").exit_code == 0
    Path("p.md").write_text("control prompt\n")
    pvc("add", "p.md")
    assert pvc("commit", "-m", "control").exit_code == 0
    url = f"http://localhost:{server.http_port}"
    assert pvc("remote", "add", "origin", url, "--admin-url", server.admin_url,
               "--admin-key-env", "MY_ADMIN_KEY").exit_code == 0
    r = pvc("push")
    assert r.exit_code == 0, r.output
    return a, url


def test_push_records_the_backend_without_secrets(primary, server):
    _, url = primary
    assert team_rows(url) == {"backend": "sqld", "admin_url": server.admin_url,
                              "db_prefix": "default"}


def test_teammate_clone_creates_branch_databases_with_no_setting_typed(primary, pvc, server,
                                                                       tmp_path, monkeypatch):
    a, url = primary
    assert pvc("branch", "exp-b").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "mate").exit_code == 0
    monkeypatch.chdir(tmp_path / "mate")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(".pvc/config")
    assert dict(cfg['team "origin"']) == {"backend": "sqld", "admin_url": server.admin_url,
                                          "db_prefix": "default"}
    assert "admin_url" not in cfg['remote "origin"']
    # the mapping made in the first repository is visible here
    db_b = json.loads(pvc("branch", "-a", "--json").stdout)
    exp_b = next(b for b in db_b if b["name"] == "remotes/origin/exp-b")
    assert exp_b["database"].startswith("default-exp-b-")
    assert f"[{exp_b['database']} {exp_b['url']}]" in pvc("branch", "-a", "-v").stdout
    # a new branch in the clone gets its own database, no option typed
    r = pvc("branch", "exp-c")
    assert r.exit_code == 0, r.output
    first, url_line = r.stdout.splitlines()
    db = first.rsplit(" ", 1)[1]
    assert first.startswith("Created branch exp-c at ") and db.startswith("default-exp-c-")
    assert url_line == f"  http://{db}.localhost:{server.http_port}"
    assert r.stderr == ""
    assert server.namespace_exists(db)
    v = pvc("branch", "-v").stdout
    assert f"[{db} http://{db}.localhost:{server.http_port}]" in v
    # the clone does not write the adopted settings back on push
    pvc("switch", "main")
    Path("p.md").write_text("teammate\n")
    pvc("commit", "-m", "teammate")
    assert pvc("push").exit_code == 0
    assert team_rows(url)["admin_url"] == server.admin_url
    j = json.loads(pvc("remote", "--json").stdout)
    assert j[0]["branch_databases"] == "sqld"
    assert j[0]["branch_databases_from"] == "primary"


def test_bad_settings_on_the_primary_are_not_used_and_the_branch_says_why(primary, pvc, tmp_path,
                                                                          monkeypatch):
    _, url = primary
    with HranaClient(url) as c:
        c.execute("UPDATE team_settings SET value = 'file:///etc/passwd' WHERE key = 'admin_url'")
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "mate").exit_code == 0
    monkeypatch.chdir(tmp_path / "mate")
    r = pvc("branch", "exp-c")
    assert r.exit_code == 0
    assert r.stdout.startswith("Created branch exp-c at ")
    assert r.stderr == (
        "note: branch exp-c has no database of its own: the branch-database settings recorded "
        "on origin's primary were not used: admin_url 'file:///etc/passwd' is not an http(s) "
        "URL without credentials\n"
        "hint: give origin a backend with `pvc config remote.origin.admin_url URL` (sqld) or "
        "`pvc config remote.origin.turso_org ORG`; `pvc branch --local` skips this note\n")


def test_clone_of_a_primary_without_backend_says_why(tmp_path, pvc, monkeypatch, server):
    a = tmp_path / "a"
    a.mkdir()
    monkeypatch.chdir(a)
    pvc("init")
    Path("p.md").write_text("x\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "x")
    url = f"http://localhost:{server.http_port}"
    pvc("remote", "add", "origin", url)
    assert pvc("push").exit_code == 0
    r = pvc("branch", "exp")
    assert r.stderr == (
        "note: branch exp has no database of its own: remote 'origin' has no branch-database "
        "backend: none is set in this repository and none was recorded on the primary at the "
        "last fetch\n"
        "hint: give origin a backend with `pvc config remote.origin.admin_url URL` (sqld) or "
        "`pvc config remote.origin.turso_org ORG`; `pvc branch --local` skips this note\n")
    assert pvc("branch", "--local", "exp2").stderr == ""


# -- push --json failures, tags, conflicts, unreachable primary ----------------------------------
def test_push_json_non_fast_forward_is_an_error_object(primary, pvc, tmp_path, monkeypatch):
    a, url = primary
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", url, "mate").exit_code == 0
    monkeypatch.chdir(tmp_path / "mate")
    Path("p.md").write_text("teammate\n")
    pvc("commit", "-m", "teammate")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(a)
    Path("p.md").write_text("mine\n")
    pvc("commit", "-m", "mine")
    r = pvc("push", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"error": {
        "code": "non-fast-forward",
        "message": "non-fast-forward: origin/main has commits that your main does not have; "
                   "nothing was pushed",
        "hint": "run `pvc pull origin main` first (it merges them), then push again",
        "exit_code": 1}}
    # pull reports the conflict in merge's words
    r = pvc("pull")
    assert r.exit_code == 1
    assert r.stdout.endswith("CONFLICT (content): Merge conflict in p.md\n")


def test_push_tags_names_only_the_tags_that_moved(primary, pvc):
    pvc("tag", "v1")
    pvc("tag", "production")
    r = pvc("push", "--tags")
    assert r.stdout == "Published 2 tags: production, v1\n"
    Path("p.md").write_text("next\n")
    pvc("commit", "-m", "next")
    pvc("tag", "-f", "production")
    r = pvc("push", "--tags")
    assert r.exit_code == 0
    assert r.stdout.endswith("Published 1 tag: production (v1 already up to date)\n")
    r = pvc("push", "--tags")
    assert r.stdout == "Everything up-to-date\n"
    j = json.loads(pvc("push", "--tags", "--json").stdout)
    assert (j["tags"], j["tags_up_to_date"]) == ([], ["production", "v1"])


def test_clone_of_an_unreachable_primary_says_it_once(tmp_path, pvc, monkeypatch, server):
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{server.http_port}"
    server.stop()
    r = pvc("clone", url, "x")
    assert r.exit_code == 1
    assert r.stderr == (
        "Cloning into 'x'...\n"
        f"error: cannot reach 127.0.0.1:{server.http_port} while trying to fetch: Connection "
        "refused\n"
        "hint: check the URL and that the server is running, then clone again\n")
    assert not (tmp_path / "x").exists()
