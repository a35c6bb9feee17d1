"""What a new user trips over (issue 18): git's CLI conventions, exact output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

DATE = "2026-01-02T03:04:05+00:00"


def commit(pvc, msg, *args):
    r = pvc("commit", "-m", msg, "--date", DATE, *args)
    assert r.exit_code == 0, r.output
    return r


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


# -- unknown commands ---------------------------------------------------------------------------
def test_unknown_command_suggests_the_closest(repo, pvc):
    r = pvc("comit", "-m", "x")
    assert r.exit_code == 2
    assert r.stderr == ("Usage: pvc [OPTIONS] COMMAND [ARGS]...\n"
                        "Try 'pvc --help' for help.\n\n"
                        "Error: No such command 'comit'. Did you mean 'commit'?\n")
    r = pvc("stauts")
    assert r.stderr.endswith("Error: No such command 'stauts'. Did you mean 'status'?\n")


def test_unknown_command_without_a_close_one(repo, pvc):
    r = pvc("frobnicate")
    assert r.exit_code == 2
    assert r.stderr.endswith("Error: No such command 'frobnicate'.\n")


# -- help ---------------------------------------------------------------------------------------
def test_help_summaries_are_whole_sentences(pvc):
    from promptvc.cli._common import summary
    from promptvc.cli.main import cli

    import click

    out = pvc("--help").stdout
    listing = out.split("Commands:\n", 1)[1]
    joined = " ".join(listing.split())
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        text = summary(cli.get_command(ctx, name))
        assert text.endswith((".", ".`")) and not text.endswith("..."), name
        assert f"{name} {text}" in joined, name
    assert "  config      Get or set a repository setting (`pvc config user.name NAME`).\n" in out


def test_commit_all_is_documented(pvc):
    out = pvc("commit", "--help").stdout
    assert "  -a, --all                Commit all tracked changes (pvc always does).\n" \
        in out


def test_dash_dash_paths_are_in_the_usage(pvc):
    assert pvc("tui", "--help").stdout.startswith("Usage: pvc tui [OPTIONS] [REV] [-- PATH...]\n")
    assert pvc("log", "--help").stdout.startswith(
        "Usage: pvc log [OPTIONS] [REVS]... [-- PATH...]\n")


# -- status during a conflict -------------------------------------------------------------------
@pytest.fixture
def conflicted(repo, pvc):
    write("p.md", "one\n")
    pvc("add", "p.md")
    commit(pvc, "base")
    pvc("switch", "-c", "exp")
    write("p.md", "two\n")
    commit(pvc, "exp")
    pvc("switch", "main")
    write("p.md", "three\n")
    commit(pvc, "main")
    r = pvc("merge", "exp")
    assert r.exit_code == 1
    assert r.stdout == "Auto-merging p.md\nCONFLICT (content): Merge conflict in p.md\n"
    return repo


def test_status_lists_a_conflicted_file_once(conflicted, pvc):
    assert pvc("status", "-s").stdout == "UU p.md\n"
    out = pvc("status").stdout
    assert out.count("p.md") == 1
    assert "Changes to be committed" not in out
    assert out.endswith("Unmerged paths:\n\tboth modified:   p.md\n")


# -- diff --stat --------------------------------------------------------------------------------
def test_diff_stat_is_aligned_with_a_summary(repo, pvc):
    write("a.md", "a\n")
    write("prompts/long-name.md", "1\n2\n3\n")
    pvc("add", "a.md", "prompts/long-name.md")
    commit(pvc, "first")
    write("a.md", "a\nb\n")
    write("prompts/long-name.md", "1\n")
    r = pvc("diff", "--stat")
    assert r.stdout == (" a.md                 |    1 +\n"
                        " prompts/long-name.md |    2 --\n"
                        " 2 files changed, 1 insertion(+), 2 deletions(-)\n")
    assert pvc("diff", "--stat", "--", "a.md").stdout == (
        " a.md |    1 +\n 1 file changed, 1 insertion(+), 0 deletions(-)\n")
    commit(pvc, "second")
    assert pvc("diff", "--stat").stdout == ""


# -- commit: editor and identity ----------------------------------------------------------------
def test_editor_failure_is_a_clear_error(repo, pvc, monkeypatch):
    write("a.md", "a\n")
    pvc("add", "a.md")
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.delenv("VISUAL", raising=False)
    r = pvc("commit")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (
        "error: the editor 'false' failed, so there is no commit message (false: Editing "
        "failed); nothing was committed\n"
        'hint: give the message with `pvc commit -m "..."`, or set $EDITOR to an editor that '
        "works\n")
    assert pvc("log").stdout == ""


def test_nothing_to_commit_is_said_before_the_editor_opens(repo, pvc, monkeypatch, tmp_path):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    opened = tmp_path / "editor-opened"
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\ntouch {opened}\necho msg > \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    r = pvc("commit")
    assert r.exit_code == 1
    assert r.stderr == ("error: nothing to commit, working tree clean\n"
                        "hint: edit a tracked file, or start tracking one with `pvc add`\n")
    assert not opened.exists()  # as git: no editor for a commit that cannot happen
    write("a.md", "b\n")
    assert pvc("commit").exit_code == 0
    assert opened.exists()
    assert json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["message"].strip() == "msg"


def test_guessed_identity_warns_like_git(repo, pvc, monkeypatch):
    import socket

    monkeypatch.delenv("PVC_AUTHOR")
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setattr(socket, "gethostname", lambda: "laptop")
    write("a.md", "a\n")
    pvc("add", "a.md")
    r = commit(pvc, "first")
    assert r.stderr == (
        "warning: no name and email are configured; this commit's author was guessed from the "
        "login and host names: alice <alice@laptop>\n"
        'hint: set them with `pvc config user.name "Jane Doe"` and `pvc config user.email '
        "jane@example.com` (or under [user] in ~/.config/pvc/config for every repository)\n")
    pvc("config", "user.name", "Alice A")
    pvc("config", "user.email", "alice@example.com")
    write("a.md", "b\n")
    assert commit(pvc, "second").stderr == ""
    assert json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["author"] == \
        "Alice A <alice@example.com>"


# -- show and log on paths that do not exist ----------------------------------------------------
def test_show_missing_path_suggests_a_close_one(repo, pvc):
    write("prompts/support.md", "a\n")
    pvc("add", "prompts/support.md")
    commit(pvc, "first")
    r = pvc("show", "HEAD:support.md")
    assert r.exit_code == 1
    assert r.stderr.splitlines()[1] == "hint: did you mean `pvc show HEAD:prompts/support.md`?"


def test_log_of_an_unknown_path_is_an_error(repo, pvc):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    r = pvc("log", "--", "WRONG/PATH")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (
        "error: path 'WRONG/PATH' is unknown: it is not in the working folder and no commit "
        "changed it\n"
        "hint: check the spelling; `pvc status` and `pvc log --stat` show the paths pvc knows\n")
    # a path that exists but has no commits yet is not an error
    write("new.md", "n\n")
    r = pvc("log", "--", "new.md")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    # a deleted file still has its history
    pvc("rm", "a.md")
    commit(pvc, "remove a")
    assert pvc("log", "--oneline", "--", "a.md").exit_code == 0
    assert len(pvc("log", "--oneline", "--", "a.md").stdout.splitlines()) == 2


# -- .pvcignore: gitignore semantics ------------------------------------------------------------
def test_pvcignore_follows_gitignore(repo, pvc):
    write(".pvcignore", "# comment\n**/drafts/**\n*.tmp.md\n!keep.tmp.md\n/root-only.md\n"
                        "build/\n")
    for p in ["a.md", "x/drafts/d.md", "drafts/e.md", "deep/er/drafts/f.md", "t.tmp.md",
              "keep.tmp.md", "root-only.md", "sub/root-only.md", "build/out.md",
              "sub/build/out2.md"]:
        write(p, "x\n")
    assert pvc("status", "-s").stdout == ("?? a.md\n?? keep.tmp.md\n?? sub/root-only.md\n")
    r = pvc("add", ".")
    assert r.stdout == "add 'a.md'\nadd 'keep.tmp.md'\nadd 'sub/root-only.md'\n"


def test_pvcignore_is_not_loaded_at_start_up():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys; from promptvc.cli import main; "
                          "print('pathspec' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout == "False\n"


# -- progress -----------------------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only():
    from promptvc.cli._common import Progress

    term = FakeTerminal()
    bar = Progress("checking versions", file=term)
    assert bar.enabled
    for i in range(3):
        bar(i + 1, 3)
    bar.close()
    frames = term.getvalue()
    assert "checking versions  [" + "#" * 36 + "]  3/3" in frames
    piped = io.StringIO()
    quiet = Progress("checking versions", file=piped)
    assert not quiet.enabled
    quiet(1, 3)
    quiet.close()
    assert piped.getvalue() == ""
    assert not Progress("x", quiet=True, file=FakeTerminal()).enabled


def test_fsck_prints_no_progress_when_piped(repo, pvc):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    r = pvc("fsck")
    assert r.stderr == ""
    assert r.stdout == ("checked 2 versions (file contents and trees), 1 commit, 1 ref: "
                        "no problems found\n")


# -- --json failures ----------------------------------------------------------------------------
def test_json_failure_is_an_error_object(repo, pvc):
    r = pvc("log", "--json", "nope")
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "unknown-revision"
    assert err["exit_code"] == 1
    assert err["message"] == r.stderr.splitlines()[0].removeprefix("error: ")


def test_json_usage_error_is_an_error_object(repo, pvc):
    r = pvc("log", "--json", "-n", "many")
    assert r.exit_code == 2
    assert json.loads(r.stdout) == {"error": {
        "code": "usage", "message": "Invalid value for '-n' / '--max-count': 'many' is not a "
                                    "valid integer range.", "hint": None, "exit_code": 2}}


def test_push_json_outside_a_repository(repo_dir, pvc):
    r = pvc("push", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["error"]["code"] == "not-a-repository"


# -- small messages -----------------------------------------------------------------------------
def test_daemon_status_line():
    from promptvc.cli.daemon_cmds import _daemon_line

    assert _daemon_line(42, "running") == "running (pid 42)"
    assert _daemon_line(42, "starting") == "starting (pid 42)"
    assert _daemon_line(42, "offline") == ("running (pid 42), offline (the remote cannot be "
                                           "reached; it keeps retrying)")
    assert _daemon_line(42, "error") == "running (pid 42), the last sync failed (see the errors below)"


def test_tag_force_without_rev_moves_to_head(repo, pvc):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    pvc("tag", "production")
    write("a.md", "b\n")
    commit(pvc, "second")
    head = json.loads(pvc("log", "--json", "-n", "1").stdout)[0]["id"]
    r = pvc("tag", "-f", "production")
    assert r.exit_code == 0
    assert r.stdout.endswith(f"now {head[:8]})\n")


# -- team settings from an untrusted primary ----------------------------------------------------
def test_team_settings_validation():
    from promptvc.remote.team import validate

    assert validate({"backend": "sqld", "admin_url": "http://127.0.0.1:9090",
                     "db_prefix": "default"}) == (
        {"backend": "sqld", "admin_url": "http://127.0.0.1:9090", "db_prefix": "default"}, [])
    assert validate({"backend": "sqld", "admin_url": "http://u:pw@h:1"}) == (
        {}, ["admin_url 'http://u:pw@h:1' is not an http(s) URL without credentials"])
    assert validate({"backend": "turso", "turso_org": "Bad Org"}) == (
        {}, ["turso_org 'Bad Org' is not a Turso organisation name"])
    assert validate({"backend": "turso", "turso_org": "acme", "turso_group": "../x",
                     "db_prefix": "../../etc", "admin_key_env": "TURSO_AUTH_TOKEN"}) == (
        {"backend": "turso", "turso_org": "acme"},
        ["turso_group '../x' is not a group name; using 'default'",
         "db_prefix '../../etc' is not [a-z0-9-], at most 40 characters; using the database name",
         "unknown setting 'admin_key_env' ignored"])
    assert validate({"backend": "ftp"}) == ({}, ["backend 'ftp' is neither sqld nor turso"])


def test_branch_all_without_a_backend(repo, pvc):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    pvc("remote", "add", "origin", "http://localhost:1")
    r = pvc("branch", "-a", "-v")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.startswith("* main ")
    assert json.loads(pvc("branch", "-a", "--json").stdout)[0]["database"] is None


# -- log -p / --stat with paths ----------------------------------------------------------------
def test_log_patch_and_stat_show_only_the_paths_given(repo, pvc):
    """As in git, `log -p -- PATH` and `log --stat -- PATH` show PATH's part of each commit,
    not the other files the commit changed."""
    write("a.md", "alpha\n")
    write("b.md", "beta\n")
    assert pvc("add", "a.md", "b.md").exit_code == 0
    commit(pvc, "both")
    write("a.md", "alpha two\n")
    write("b.md", "beta two\n")
    commit(pvc, "both again", "-a")
    r = pvc("log", "-p", "--oneline", "--", "a.md")
    assert r.exit_code == 0, r.output
    assert "a/a.md" in r.stdout and "b.md" not in r.stdout
    r = pvc("log", "--stat", "--", "a.md")
    assert "a.md" in r.stdout and "b.md" not in r.stdout
    data = json.loads(pvc("log", "-p", "--json", "--", "a.md").stdout)
    assert [[p["path"] for p in c["patch"]] for c in data] == [["a.md"], ["a.md"]]
    assert [[ch["path"] for ch in c["changes"]] for c in data] == [["a.md"], ["a.md"]]
    both = json.loads(pvc("log", "-p", "--json").stdout)
    assert [sorted(p["path"] for p in c["patch"]) for c in both] == [["a.md", "b.md"]] * 2


def test_show_limits_a_commit_to_the_paths_after_dashdash(repo, pvc):
    """`pvc show REV -- PATH` shows REV's diff of PATH only (it was read as a revision)."""
    write("a.md", "alpha\n")
    write("b.md", "beta\n")
    assert pvc("add", "a.md", "b.md").exit_code == 0
    commit(pvc, "both")
    r = pvc("show", "HEAD", "--", "a.md")
    assert r.exit_code == 0, r.output
    assert "+++ b/a.md" in r.stdout and "b.md" not in r.stdout
    r = pvc("show", "--stat", "HEAD", "--", "b.md")
    assert r.exit_code == 0 and "b.md" in r.stdout and "a.md" not in r.stdout
    data = json.loads(pvc("show", "--json", "HEAD", "--", "a.md").stdout)
    assert [c["path"] for c in data["changes"]] == ["a.md"]


def test_tag_force_without_a_name_is_a_usage_error(repo, pvc):
    write("a.md", "a\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    assert pvc("tag", "production").exit_code == 0
    r = pvc("tag", "-f")
    assert r.exit_code == 2
    assert r.stderr.endswith("Error: give the tag to move: pvc tag -f NAME [REV]\n")
    assert pvc("tag").stdout == "production\n"


def test_branch_url_of_an_unknown_branch_says_where_to_look(repo, pvc):
    assert pvc("remote", "add", "origin", "http://localhost:9").exit_code == 0
    r = pvc("branch", "url", "nosuch")
    assert r.exit_code == 1
    assert r.stderr == "error: no branch named 'nosuch'\nhint: `pvc branch` lists the branches\n"
