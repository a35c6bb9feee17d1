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
