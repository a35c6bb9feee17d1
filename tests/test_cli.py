"""CLI behaviour, asserting exact output and error text."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from promptvc.objects import commit_id, manifest_bytes, sha256

DATE = "2026-01-02T03:04:05+00:00"
AUTHOR = "Test User <test@example.com>"


def commit(pvc, msg, *args):
    r = pvc("commit", "-m", msg, "--date", DATE, *args)
    assert r.exit_code == 0, r.output
    return r


def head_id(repo_path) -> str:
    from promptvc.repo import Repo

    r = Repo.open(repo_path)
    try:
        return r.head()
    finally:
        r.close()


# -- init -------------------------------------------------------------------------------
def test_init_creates_repository(repo_dir, pvc):
    r = pvc("init")
    assert r.exit_code == 0
    assert r.stdout == f"Initialized empty pvc repository in {repo_dir / '.pvc'}\n"
    assert (repo_dir / ".pvc" / "pvc.db").is_file()


def test_init_twice_is_an_error(repo, pvc):
    r = pvc("init")
    assert r.exit_code == 1
    assert r.stderr == (f"error: {repo} is already a pvc repository\n"
                        "hint: use it as it is, or remove its .pvc folder to start over\n")


def test_init_into_new_directory(repo_dir, pvc):
    r = pvc("init", "sub/dir")
    assert r.exit_code == 0
    assert (repo_dir / "sub" / "dir" / ".pvc" / "pvc.db").is_file()


def test_outside_repository(repo_dir, pvc):
    r = pvc("status")
    assert r.exit_code == 1
    assert r.stderr == (f"error: not a pvc repository (or any parent up to /): {repo_dir}\n"
                        "hint: run `pvc init` to create one here, or pass -C PATH\n")


def test_found_from_subfolder_and_with_C(repo, pvc, monkeypatch):
    (repo / "sub").mkdir()
    (repo / "sub" / "p.md").write_text("x\n")
    monkeypatch.chdir(repo / "sub")
    assert pvc("add", "p.md").stdout == "add 'sub/p.md'\n"
    monkeypatch.chdir(repo.parent)
    r = pvc("-C", "work", "status", "-s")
    assert r.stdout == "A  sub/p.md\n"


# -- add / commit / status --------------------------------------------------------------
def test_add_commit_status_flow(repo, pvc):
    (repo / "system.md").write_text("You are helpful.\n")
    (repo / "notes.txt").write_text("todo\n")
    r = pvc("status")
    assert r.stdout == ("On branch main\n\nNo commits yet\n\nUntracked prompt files:\n"
                        '  (use "pvc add <file>..." to track them)\n\tnotes.txt\n\tsystem.md\n\n'
                        'nothing to commit, but untracked prompt files are present (use "pvc add" '
                        "to track)\n")
    assert pvc("add", "system.md").stdout == "add 'system.md'\n"
    r = commit(pvc, "first prompt")
    cid = head_id(repo)
    assert r.stdout == (f"[main (root-commit) {cid[:8]}] first prompt\n"
                        " 1 file changed, 1 insertion(+)\n")
    (repo / "system.md").write_text("You are helpful.\nBe brief.\n")
    assert pvc("status", "-s").stdout == " M system.md\n?? notes.txt\n"
    r = commit(pvc, "be brief")
    assert r.stdout == f"[main {head_id(repo)[:8]}] be brief\n 1 file changed, 1 insertion(+)\n"
    r = pvc("status", "--no-untracked")
    assert r.stdout == "On branch main\n\nnothing to commit, working tree clean\n"


def test_nothing_to_commit_exits_1(repo, pvc):
    (repo / "a.md").write_text("a\n")
    pvc("add", "a.md")
    commit(pvc, "a")
    r = pvc("commit", "-m", "again")
    assert r.exit_code == 1
    assert r.stderr == ("error: nothing to commit, working tree clean\n"
                        "hint: edit a tracked file, or start tracking one with `pvc add`\n")


def test_commit_only_given_paths(repo, pvc):
    for name in ("a.md", "b.md"):
        (repo / name).write_text("1\n")
    pvc("add", "a.md", "b.md")
    commit(pvc, "both")
    (repo / "a.md").write_text("2\n")
    (repo / "b.md").write_text("2\n")
    commit(pvc, "only a", "a.md")
    assert pvc("status", "-s").stdout == " M b.md\n"


def test_commit_quiet_prints_nothing_but_commits(repo, pvc):
    (repo / "a.md").write_text("one\n")
    pvc("add", "a.md")
    r = pvc("commit", "-q", "-m", "first", "--author", "Ann <ann@example.com>")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert [c["message"] for c in json.loads(pvc("log", "--json").stdout)] == ["first"]


def test_commit_untracked_path_is_an_error(repo, pvc):
    (repo / "a.md").write_text("1\n")
    r = pvc("commit", "-m", "x", "a.md")
    assert r.exit_code == 1
    assert r.stderr == ("error: 'a.md' is not tracked by pvc\n"
                        "hint: start tracking it with `pvc add a.md`\n")


def test_commit_json(repo, pvc):
    (repo / "a.md").write_text("1\n2\n")
    pvc("add", "a.md")
    r = pvc("commit", "-m", "j", "--date", DATE, "--json")
    data = json.loads(r.stdout)
    assert data["id"] == head_id(repo)
    assert data["parents"] == [] and data["author"] == AUTHOR and data["date"] == DATE
    assert data["changes"] == [{"status": "A", "path": "a.md", "old_path": None,
                                "insertions": 2, "deletions": 0}]


def test_commit_id_is_hash_of_content_parents_and_metadata(repo, pvc):
    (repo / "a.md").write_bytes(b"hello\n")
    pvc("add", "a.md")
    commit(pvc, "msg")
    tree = manifest_bytes({"a.md": sha256(b"hello\n")})
    assert head_id(repo) == commit_id(sha256(tree), (), AUTHOR, DATE, "msg")


def test_author_option_and_bad_author(repo, pvc):
    (repo / "a.md").write_text("1\n")
    pvc("add", "a.md")
    r = pvc("commit", "-m", "x", "--author", "nobody")
    assert r.exit_code == 1
    assert r.stderr == ("error: author 'nobody' is not in the form 'Name <email>'\n"
                        'hint: pass --author "Jane Doe <jane@example.com>"\n')
    r = pvc("commit", "-m", "x", "--author", "Jane Doe <jane@example.com>", "--json")
    assert json.loads(r.stdout)["author"] == "Jane Doe <jane@example.com>"


def test_add_binary_file_refused(repo, pvc):
    (repo / "img.txt").write_bytes(b"\x89PNG\x00\x01")
    r = pvc("add", "img.txt")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot add 'img.txt': it is a binary file (it contains NUL bytes)\n"
                        "hint: pvc versions text prompts only; leave this file out\n")
    (repo / "latin.txt").write_bytes(b"caf\xe9\n")
    r = pvc("add", "latin.txt")
    assert r.stderr.startswith("error: cannot add 'latin.txt': it is not valid UTF-8 text "
                               "(bad byte at offset 3)\n")
    assert pvc("status", "-s", "--no-untracked").stdout == ""  # nothing was half-added


def test_add_missing_and_outside(repo, pvc, tmp_path):
    r = pvc("add", "nope.md")
    assert r.exit_code == 1
    assert r.stderr == ("error: 'nope.md' did not match any file\n"
                        "hint: check the path; `pvc status` lists untracked prompt files\n")
    outside = tmp_path / "outside.md"
    outside.write_text("x")
    r = pvc("add", str(outside))
    assert r.exit_code == 1
    assert r.stderr == (f"error: '{outside}' is outside the repository at {repo}\n"
                        "hint: give a path inside the repository\n")


def test_add_folder_adds_prompt_files_and_respects_pvcignore(repo, pvc):
    (repo / "prompts" / "draft").mkdir(parents=True)
    (repo / "prompts" / "a.md").write_text("a")
    (repo / "prompts" / "b.prompt").write_text("b")
    (repo / "prompts" / "script.py").write_text("print()")
    (repo / "prompts" / "draft" / "c.md").write_text("c")
    (repo / "prompts" / ".a.md.swp").write_text("swap")
    (repo / ".pvcignore").write_text("draft/\n")
    r = pvc("add", "prompts")
    assert r.stdout == "add 'prompts/a.md'\nadd 'prompts/b.prompt'\n"


def test_rm_and_rm_cached(repo, pvc):
    for name in ("a.md", "b.md"):
        (repo / name).write_text("1\n")
    pvc("add", "a.md", "b.md")
    commit(pvc, "two")
    assert pvc("rm", "a.md").stdout == "rm 'a.md'\n"
    assert not (repo / "a.md").exists()
    assert pvc("rm", "--cached", "b.md").stdout == "rm 'b.md'\n"
    assert (repo / "b.md").exists()
    assert pvc("status", "-s").stdout == "D  a.md\nD  b.md\n?? b.md\n"
    r = commit(pvc, "remove")
    assert r.stdout.endswith(" 2 files changed, 2 deletions(-)\n")


def test_rm_refuses_uncommitted_changes(repo, pvc):
    (repo / "a.md").write_text("1\n")
    pvc("add", "a.md")
    commit(pvc, "a")
    (repo / "a.md").write_text("2\n")
    r = pvc("rm", "a.md")
    assert r.exit_code == 1
    assert r.stderr == ("error: 'a.md' has changes that are not committed\n"
                        "hint: commit them first, use --cached to keep the file, or -f to delete it\n")
    assert (repo / "a.md").read_text() == "2\n"


def test_mv_history_follows_rename(repo, pvc):
    (repo / "old.md").write_text("v1\n")
    pvc("add", "old.md")
    commit(pvc, "v1")
    (repo / "old.md").write_text("v2\n")
    commit(pvc, "v2")
    assert pvc("mv", "old.md", "new.md").stdout == "renamed 'old.md' -> 'new.md'\n"
    assert pvc("status", "-s").stdout == "R  old.md -> new.md\n"
    r = commit(pvc, "rename")
    assert r.stdout.endswith(" 1 file changed\n")
    (repo / "new.md").write_text("v3\n")
    commit(pvc, "v3")
    r = pvc("log", "--oneline", "--", "new.md")
    assert [line.split(" ", 1)[1] for line in r.stdout.splitlines()] == [
        "(HEAD -> main) v3", "rename", "v2", "v1"]
    assert pvc("show", "HEAD~3:old.md").stdout == "v1\n"


# -- log / show -------------------------------------------------------------------------
@pytest.fixture
def history(repo, pvc):
    """a.md with three versions, b.md with one; returns commit ids oldest first."""
    ids = []
    (repo / "a.md").write_text("line 1\n")
    (repo / "b.md").write_text("bee\n")
    pvc("add", "a.md", "b.md")
    commit(pvc, "add a and b")
    ids.append(head_id(repo))
    for i, msg in ((2, "second line"), (3, "third line")):
        with open(repo / "a.md", "a") as fh:
            fh.write(f"line {i}\n")
        commit(pvc, msg)
        ids.append(head_id(repo))
    return ids


def test_log_default_format(history, pvc):
    r = pvc("log", "-n", "1")
    assert r.stdout == (f"commit {history[2]} (HEAD -> main)\nAuthor: {AUTHOR}\nDate:   {DATE}\n\n"
                        "    third line\n\n")


def test_log_oneline_path_and_json(history, pvc):
    r = pvc("log", "--oneline")
    assert r.stdout == (f"{history[2][:8]} (HEAD -> main) third line\n{history[1][:8]} second line\n"
                        f"{history[0][:8]} add a and b\n")
    assert pvc("log", "--oneline", "--", "b.md").stdout == f"{history[0][:8]} add a and b\n"
    assert pvc("log", "--oneline", "b.md").stdout == f"{history[0][:8]} add a and b\n"
    data = json.loads(pvc("log", "--json", "-n", "2").stdout)
    assert [d["id"] for d in data] == [history[2], history[1]]
    assert data[0]["changes"] == [{"status": "M", "path": "a.md", "old_path": None,
                                   "insertions": 1, "deletions": 0}]


def test_log_stat(history, pvc):
    r = pvc("log", "--stat", "--oneline", "-n", "1")
    assert r.stdout == (f"{history[2][:8]} (HEAD -> main) third line\n a.md |    1 +\n"
                        " 1 file changed, 1 insertion(+), 0 deletions(-)\n")


def test_show_commit_and_file(history, pvc):
    r = pvc("show", history[1][:6])
    assert r.stdout == (f"commit {history[1]}\nAuthor: {AUTHOR}\nDate:   {DATE}\n\n    second line\n\n"
                        "diff --git a/a.md b/a.md\n--- a/a.md\n+++ b/a.md\n@@ -1 +1,2 @@\n line 1\n"
                        "+line 2\n")
    assert pvc("show", "HEAD~2:a.md").stdout_bytes == b"line 1\n"
    assert pvc("show", "main~1:a.md").stdout_bytes == b"line 1\nline 2\n"


def test_show_missing_path_and_bad_revs(history, pvc):
    r = pvc("show", "HEAD:nope.md")
    assert r.exit_code == 1
    assert r.stderr == (f"error: path 'nope.md' does not exist in HEAD ({history[2][:8]})\n"
                        "hint: HEAD has 2 files: a.md, b.md\n")
    r = pvc("show", "HEAD~5")
    assert r.exit_code == 1
    assert r.stderr == "error: revision 'HEAD~5' goes past the first commit\nhint: use a smaller number\n"
    r = pvc("show", "zzz")
    assert r.stderr == ("error: unknown revision 'zzz'\nhint: see `pvc log` for commit ids and "
                        "`pvc branch` / `pvc tag` for names\n")


def test_rev_prefix_needs_four_chars(history, pvc):
    assert pvc("show", "--stat", history[0][:4]).exit_code == 0
    assert pvc("show", history[0][:3]).exit_code == 1


def test_show_empty_file_and_no_trailing_newline(repo, pvc):
    (repo / "e.md").write_bytes(b"")
    (repo / "n.md").write_bytes(b"no newline")
    (repo / "c.md").write_bytes(b"crlf\r\nline\r\n")
    pvc("add", "e.md", "n.md", "c.md")
    commit(pvc, "odd files")
    assert pvc("show", "HEAD:e.md").stdout_bytes == b""
    assert pvc("show", "HEAD:n.md").stdout_bytes == b"no newline"
    assert pvc("show", "HEAD:c.md").stdout_bytes == b"crlf\r\nline\r\n"


# -- diff -------------------------------------------------------------------------------
def test_diff_working_tree(history, pvc, repo):
    (repo / "a.md").write_text("line 1\nline two\nline 3")
    r = pvc("diff")
    assert r.stdout == ("diff --git a/a.md b/a.md\n--- a/a.md\n+++ b/a.md\n@@ -1,3 +1,3 @@\n line 1\n"
                        "-line 2\n-line 3\n+line two\n+line 3\n\\ No newline at end of file\n")


def test_diff_two_revs_and_paths(history, pvc):
    r = pvc("diff", history[0], history[2], "--", "a.md")
    assert r.stdout == ("diff --git a/a.md b/a.md\n--- a/a.md\n+++ b/a.md\n@@ -1 +1,3 @@\n line 1\n"
                        "+line 2\n+line 3\n")
    assert pvc("diff", history[0], history[2], "--", "b.md").stdout == ""
    assert pvc("diff", f"{history[0][:8]}..{history[2][:8]}", "--name-only").stdout == "a.md\n"


@pytest.mark.parametrize("tool", ["patch", "git"])
def test_diff_applies_with_patch_and_git_apply(repo, pvc, tool, tmp_path):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    files = {"a.md": b"one\ntwo\nthree\n", "crlf.md": b"x\r\ny\r\n", "nonl.md": b"end",
             "gone.md": b"bye\n"}
    for name, data in files.items():
        (repo / name).write_bytes(data)
    pvc("add", *files)
    commit(pvc, "base")
    (repo / "a.md").write_bytes(b"one\n2\nthree\nfour")
    (repo / "crlf.md").write_bytes(b"x\r\nY\r\n")
    (repo / "nonl.md").write_bytes(b"end\n")
    (repo / "gone.md").unlink()
    (repo / "new.md").write_bytes(b"fresh\n")
    pvc("add", "new.md")
    patch = pvc("diff").stdout_bytes
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in files.items():
        (copy / name).write_bytes(data)
    if tool == "patch":
        subprocess.run(["patch", "-p1", "-s", "--binary"], cwd=copy, input=patch, check=True)
    else:
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        subprocess.run(["git", "apply", "-"], cwd=copy, input=patch, check=True)
    for name in ("a.md", "crlf.md", "nonl.md", "new.md"):
        assert (copy / name).read_bytes() == (repo / name).read_bytes(), name
    assert not (copy / "gone.md").exists() or (copy / "gone.md").read_bytes() == b""


# -- branches / switch / restore --------------------------------------------------------
def test_branch_create_list_switch_delete(history, pvc, repo):
    assert pvc("branch", "exp").stdout == f"Created branch exp at {history[2][:8]}\n"
    assert pvc("branch").stdout == "  exp\n* main\n"
    assert pvc("switch", "exp").stdout == "Switched to branch 'exp'\n"
    (repo / "a.md").write_text("experiment\n")
    commit(pvc, "exp change")
    assert pvc("switch", "main").stdout == "Switched to branch 'main'\n"
    assert (repo / "a.md").read_text() == "line 1\nline 2\nline 3\n"
    r = pvc("branch", "-d", "exp")
    assert r.exit_code == 1
    assert r.stderr == ("error: branch 'exp' is not fully merged into main\n"
                        "hint: merge it first, or delete it anyway with `pvc branch -D exp`\n")
    r = pvc("branch", "-D", "exp")
    assert r.stdout.startswith("Deleted branch exp (was ")
    assert pvc("branch", "--json").stdout.count('"name"') == 1


def test_branch_errors(history, pvc):
    r = pvc("branch", "bad..name")
    assert r.exit_code == 1
    assert r.stderr == ("error: 'bad..name' is not a valid branch name: it contains '..'\n"
                        "hint: use letters, digits, '-', '_', '.' and '/' (git's ref-name rules)\n")
    pvc("branch", "x")
    r = pvc("branch", "x")
    assert r.stderr == ("error: a branch named 'x' already exists\n"
                        "hint: switch to it with `pvc switch x`, or pick another name\n")
    r = pvc("branch", "-d", "main")
    assert r.stderr == ("error: cannot delete branch 'main': it is the current branch\n"
                        "hint: switch to another branch first\n")
    r = pvc("switch", "nope")
    assert r.stderr == ("error: branch 'nope' not found\n"
                        "hint: create it with `pvc branch nope` or `pvc switch -c nope`\n")


def test_switch_refuses_to_overwrite_local_changes(history, pvc, repo):
    pvc("switch", "-c", "exp")
    (repo / "a.md").write_text("on exp\n")
    commit(pvc, "exp")
    pvc("switch", "main")
    (repo / "a.md").write_text("unsaved work\n")
    r = pvc("switch", "exp")
    assert r.exit_code == 1
    assert r.stderr == ("error: your local changes to a.md would be overwritten by switching to "
                        "'exp'\nhint: commit them (`pvc commit -am ...`) or discard them "
                        "(`pvc restore PATH`) first\n")
    assert (repo / "a.md").read_text() == "unsaved work\n"
    assert pvc("status", "-s", "--no-untracked").stdout == " M a.md\n"


def test_switch_carries_unrelated_changes(history, pvc, repo):
    pvc("switch", "-c", "exp")
    (repo / "a.md").write_text("on exp\n")
    commit(pvc, "exp")
    pvc("switch", "main")
    (repo / "b.md").write_text("local edit\n")
    assert pvc("switch", "exp").exit_code == 0
    assert (repo / "b.md").read_text() == "local edit\n"
    assert (repo / "a.md").read_text() == "on exp\n"


def test_switch_adds_and_removes_files(history, pvc, repo):
    pvc("switch", "-c", "exp")
    (repo / "sub").mkdir()
    (repo / "sub" / "c.md").write_text("c\n")
    pvc("add", "sub/c.md")
    commit(pvc, "add c")
    pvc("switch", "main")
    assert not (repo / "sub").exists()
    pvc("switch", "exp")
    assert (repo / "sub" / "c.md").read_text() == "c\n"
    assert pvc("status", "-s").stdout == ""


def test_restore(history, pvc, repo):
    (repo / "a.md").write_text("oops\n")
    assert pvc("restore", "a.md").stdout == "Restored 1 file from HEAD\n"
    assert (repo / "a.md").read_text() == "line 1\nline 2\nline 3\n"
    pvc("restore", "a.md", "--source", "HEAD~2")
    assert (repo / "a.md").read_text() == "line 1\n"


# -- tags / reflog ------------------------------------------------------------------------
def test_tags_move_and_reflog(history, pvc, monkeypatch):
    monkeypatch.setenv("PVC_DATE", DATE)
    assert pvc("tag", "production", history[0]).stdout == f"Created tag 'production' at {history[0][:8]}\n"
    r = pvc("tag", "production", history[1])
    assert r.exit_code == 1
    assert r.stderr == (f"error: tag 'production' already exists (at {history[0][:8]})\n"
                        f"hint: move it with `pvc tag -f production {history[1]}`\n")
    assert pvc("tag", "-f", "production", history[1]).stdout == (
        f"Updated tag 'production' (was {history[0][:8]}, now {history[1][:8]})\n")
    assert pvc("tag", "-f", "production", history[1]).stdout == (
        f"Tag 'production' already at {history[1][:8]}\n")
    assert pvc("tag").stdout == "production\n"
    r = pvc("reflog", "production")
    assert r.stdout == (f"{history[1][:8]} production@{{0}}: tag: moved at {history[1]} ({AUTHOR}, {DATE})\n"
                        f"{history[0][:8]} production@{{1}}: tag: created at {history[0]} ({AUTHOR}, {DATE})\n")
    data = json.loads(pvc("reflog", "production", "--json").stdout)
    assert [(d["old"], d["new"]) for d in data] == [(history[0], history[1]), (None, history[0])]
    assert pvc("show", "production:a.md").stdout == "line 1\nline 2\n"
    assert pvc("tag", "-d", "production").stdout == f"Deleted tag 'production' (was {history[1][:8]})\n"
    assert pvc("tag").stdout == ""


def test_branch_reflog_records_commits(history, pvc):
    data = json.loads(pvc("reflog", "main", "--json").stdout)
    assert [d["action"] for d in data] == ["commit: third line", "commit: second line",
                                           "commit (initial): add a and b"]
    assert data[0]["who"] == AUTHOR


# -- fsck -------------------------------------------------------------------------------
def test_fsck_clean(history, pvc):
    r = pvc("fsck")
    assert r.exit_code == 0
    assert r.stdout == "checked 7 versions (file contents and trees), 3 commits, 1 ref: no problems found\n"


# -- misc -------------------------------------------------------------------------------
def test_version_and_usage_error(pvc):
    from promptvc import __version__

    assert pvc("--version").stdout == f"pvc {__version__}\n"
    r = pvc("log", "--no-such-flag")
    assert r.exit_code == 2
    assert "No such option '--no-such-flag'" in r.stderr


def test_newer_schema_refused(repo, pvc):
    from promptvc.store import Store
    from promptvc.store.schema import SCHEMA_VERSION

    s = Store(str(repo / ".pvc" / "pvc.db"))
    s.conn.execute("PRAGMA user_version = 99")
    s.close()
    r = pvc("status")
    assert r.exit_code == 1
    assert r.stderr == (f"error: the repository database {repo / '.pvc' / 'pvc.db'} has schema "
                        f"version 99, but this pvc knows versions up to {SCHEMA_VERSION}\n"
                        "hint: upgrade pvc (pip install -U promptvc) to use this repository\n")


def test_malformed_config(repo, pvc):
    (repo / ".pvc" / "config").write_text("[core\nbroken")
    r = pvc("status")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: the repository config {repo / '.pvc' / 'config'} is malformed")
    assert r.stderr.endswith("hint: fix or remove the offending line (it is an INI file)\n")


def test_subprocess_entry_point_exit_codes(tmp_path):
    from tests.conftest import run_pvc

    p = run_pvc("status", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.startswith(b"error: not a pvc repository")
    assert b"Traceback" not in p.stderr
    p = run_pvc("--bogus", cwd=tmp_path)
    assert p.returncode == 2


def test_fifty_commits_every_version_byte_exact(repo, pvc):
    import random

    rnd = random.Random(7)
    words = "the model must answer briefly and cite sources when it can".split()
    text = [" ".join(rnd.choice(words) for _ in range(12)) + "\n" for _ in range(40)]
    (repo / "p.md").write_text("".join(text))
    pvc("add", "p.md")
    versions = []
    for i in range(50):
        k = rnd.randrange(len(text))
        text[k] = " ".join(rnd.choice(words) for _ in range(12)) + "\n"
        if i % 7 == 0:
            text.insert(k, f"inserted {i}\n")
        data = "".join(text).encode()
        (repo / "p.md").write_bytes(data)
        commit(pvc, f"edit {i}")
        versions.append((head_id(repo), data))
    for cid, data in versions:
        assert pvc("show", f"{cid}:p.md").stdout_bytes == data
    assert len(pvc("log", "--oneline").stdout.splitlines()) == 50
    assert pvc("fsck").exit_code == 0


def test_old_schema_is_migrated(repo_dir, pvc):
    """A database made by the first schema version is upgraded step by step on open."""
    from promptvc.store import Store
    from promptvc.store.schema import MIGRATIONS, SCHEMA_VERSION

    (repo_dir / ".pvc").mkdir()
    s = Store(str(repo_dir / ".pvc" / "pvc.db"))
    with s.transaction():
        for sql in MIGRATIONS[0][1]:
            s._exec(sql)
        s._exec("PRAGMA user_version = 1")
        s.set_state("HEAD", "refs/heads/main")
    s.close()
    (repo_dir / "a.md").write_text("x\n")
    assert pvc("add", "a.md").exit_code == 0
    assert pvc("commit", "-m", "after upgrade").exit_code == 0
    s = Store(str(repo_dir / ".pvc" / "pvc.db"))
    assert s.user_version() == SCHEMA_VERSION
    s.close()
    assert pvc("fsck").exit_code == 0


def test_commit_files_rename_and_recreate_old_path(repo_dir):
    """A rename plus a new file at the old path in one commit keeps both (found by import)."""
    from promptvc.repo import Repo

    r = Repo.init(repo_dir)
    r.commit_files({"a.md": b"one\n"}, "c1", author=AUTHOR)
    r.commit_files({"a.md": b"new a\n", "b.md": b"one\n"}, "c2", author=AUTHOR,
                   renames={"b.md": "a.md"})
    assert sorted(r.tree(r.head())) == ["a.md", "b.md"]
    assert [(c.status, c.path, c.old_path) for c in r.changes(r.head())] == [
        ("M", "a.md", None), ("R", "b.md", "a.md")]
    r.commit_files({"b.md": None, "c.md": b"one\n"}, "c3", author=AUTHOR, renames={"c.md": "b.md"})
    assert [(c.status, c.path, c.old_path) for c in r.changes(r.head())] == [("R", "c.md", "b.md")]
    assert r.fsck().ok
    r.close()


# -- config -----------------------------------------------------------------------------
def test_config_command_output_and_exit_codes(repo, pvc):
    cfg = repo / ".pvc" / "config"
    assert pvc("remote", "add", "origin", "http://localhost:1").exit_code == 0
    r = pvc("config", "remote.origin.timeout", "30")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert '[remote "origin"]\nurl = http://localhost:1\ntimeout = 30\n' in cfg.read_text()
    assert pvc("config", "remote.origin.timeout").stdout == "30\n"
    assert pvc("config", "core.max_chain_ratio").stdout == "2.0\n"  # a default
    r = pvc("config", "user.nickname")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "")
    before = cfg.read_bytes()
    r = pvc("config", "--", "remote.origin.timeout", "-5")
    assert r.exit_code == 1
    assert r.stderr == ("error: config value remote.origin.timeout = '-5' is out of range "
                        "(0.1 to 3600)\nhint: set it with `pvc config remote.origin.timeout N`\n")
    assert cfg.read_bytes() == before
    r = pvc("config", "timeout", "5")
    assert r.exit_code == 2
    assert r.stderr.endswith("Error: key 'timeout' needs a section; did you mean search.timeout "
                             "or remote.NAME.timeout?\n")
    r = pvc("config", "--unset", "timeout")
    assert r.exit_code == 2
    assert r.stderr.endswith("Error: key 'timeout' needs a section; did you mean search.timeout "
                             "or remote.NAME.timeout?\n")
    r = pvc("config", "--unset", "remote.origin.timeout")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert "timeout" not in cfg.read_text()
    r = pvc("config", "--unset", "remote.origin.timeout")
    assert (r.exit_code, r.stderr) == (1, "error: remote.origin.timeout is not set\n")


def test_config_keys_are_parsed_validated_and_saved_by_config(repo):
    from promptvc.config import Config
    from promptvc.errors import ConfigError, ErrorCode

    path = repo / ".pvc" / "config"
    config = Config(path)
    config.set_key("remote.origin.url", "http://localhost:1")
    config.set_key("remote.origin.retries", "5")
    config.set_key("user.name", "Jane Doe")
    again = Config(path)  # saved
    assert again.parser.get('remote "origin"', "retries") == "5"
    assert again.get_key("remote.origin.retries") == "5"
    assert again.get_key("user.name") == "Jane Doe"
    assert again.get_key("core.max_chain_length") == "50"
    assert again.get_key("user.nickname") is None
    before = path.read_bytes()
    for key, value, code in [("remote.origin.retries", "0", ErrorCode.CONFIG),
                             ("core.max_chain_length", "many", ErrorCode.CONFIG),
                             ("retries", "5", ErrorCode.CONFIG_KEY)]:
        with pytest.raises(ConfigError) as exc:
            again.set_key(key, value)
        assert exc.value.error_code is code
    with pytest.raises(ConfigError) as exc:
        again.unset_key("retries")
    assert exc.value.error_code is ErrorCode.CONFIG_KEY
    assert path.read_bytes() == before
    assert again.unset_key("remote.origin.retries") is True
    assert again.unset_key("remote.origin.retries") is False
    assert Config(path).get_key("remote.origin.retries") is None


def test_config_remote_settings_need_the_remote_and_keep_its_url(repo, pvc):
    cfg = repo / ".pvc" / "config"
    before = cfg.read_bytes()
    r = pvc("config", "remote.origin.timeout", "30")  # the --help example, no remote yet
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("error: no remote named 'origin' to set remote.origin.timeout for\n"
                        "hint: add it first with `pvc remote add origin URL`\n")
    assert cfg.read_bytes() == before
    assert pvc("branch").exit_code == 0
    assert pvc("remote", "add", "origin", "http://localhost:1").exit_code == 0
    assert pvc("config", "remote.origin.timeout", "30").exit_code == 0
    r = pvc("config", "--unset", "remote.origin.url")
    assert (r.exit_code, r.stderr) == (
        1, "error: remote.origin.url is what makes 'origin' a remote; it is not unset alone\n"
           "hint: remove the remote with `pvc remote remove origin`\n")
    assert pvc("config", "remote.origin.url").stdout == "http://localhost:1\n"
    assert pvc("config", "user.name", "Jane Doe").exit_code == 0
    assert pvc("config", "--unset", "user.name").exit_code == 0
    assert "[user]" not in cfg.read_text()  # the section left empty goes too


def test_remote_without_url_can_be_removed_or_completed(repo, pvc):
    """A `[remote "origin"]` without a url (an older pvc, a hand edit) blocks neither
    `pvc remote add` nor `pvc remote remove`, and the other commands say how to fix it."""
    cfg = repo / ".pvc" / "config"
    broken = '[remote "origin"]\ntimeout = 30\nretries = 0\nbogus = 1\n'
    cfg.write_text(broken)
    hint = (f"error: remote 'origin' has no url in {cfg}\n"
            "hint: give it one with `pvc remote add origin URL`, or remove it with "
            "`pvc remote remove origin`\n")
    for args in (["branch"], ["branch", "exp"], ["remote", "-v"]):
        r = pvc(*args)
        assert (r.exit_code, r.stderr) == (1, hint), args
    assert pvc("remote").stdout == "origin\n"
    r = pvc("remote", "add", "origin", "http://localhost:1")
    assert (r.exit_code, r.stdout) == (0, "Added remote origin (http://localhost:1)\n")
    # adopted: the valid setting kept, the bad and unknown ones dropped
    assert cfg.read_text() == '[remote "origin"]\nurl = http://localhost:1\ntimeout = 30\n\n'
    cfg.write_text(broken)
    r = pvc("remote", "remove", "origin")
    assert (r.exit_code, r.stdout) == (0, "Removed remote origin\n")
    assert cfg.read_text() == ""
    assert pvc("branch").exit_code == 0


@pytest.mark.parametrize("key, value, err", [
    ("check.on_commit", "maybe", "error: config value check.on_commit = 'maybe' is not true or "
     "false\nhint: set it with `pvc config check.on_commit true` (or false)\n"),
    ("search.embedder", "bogus", "error: config value search.embedder = 'bogus' is not one of "
     "none, off, wordllama, openai\nhint: set it with `pvc config search.embedder VALUE`\n"),
    ("search.text_weight", "abc", "error: config value search.text_weight = 'abc' is not a "
     "number\nhint: set it with `pvc config search.text_weight N`\n"),
    ("gc.reflog_expire", "abc", "error: config value gc.reflog_expire = 'abc' is not a number of "
     "days (1 or more) or 'never'\nhint: for example `pvc config gc.reflog_expire 90`\n"),
    ("search.url", "file:///etc/passwd", "error: config value search.url = 'file:///etc/passwd' "
     "is not a URL with a host (https:// or http://)\n"
     "hint: for example `pvc config search.url http://localhost:8080`\n"),
    ("user.email", "a<b", "error: config value user.email = 'a<b' is not a name or address "
     "without '<', '>' or line breaks\nhint: set it with `pvc config user.email VALUE`\n"),
])
def test_config_refuses_a_bad_value(repo, pvc, key, value, err):
    before = (repo / ".pvc" / "config").read_bytes()
    r = pvc("config", key, value)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", err)
    assert (repo / ".pvc" / "config").read_bytes() == before


@pytest.mark.parametrize("key, err", [
    ("core.max_chain_lenght", "unknown setting 'core.max_chain_lenght'; did you mean "
     "core.max_chain_length?"),
    ("core.nosuchkey", "unknown setting 'core.nosuchkey'; core settings: max_chain_length, "
     "max_chain_ratio, prompt_globs"),
    ("remote.origin.timout", "unknown setting 'remote.origin.timout'; did you mean "
     "remote.origin.timeout?"),
    ("bogus", "key 'bogus' needs a section; the sections are check, core, gc, remote, search, "
     "user"),
    ("max_chain_length", "key 'max_chain_length' needs a section; did you mean "
     "core.max_chain_length?"),
])
def test_config_refuses_an_unknown_key_of_a_known_section(repo, pvc, key, err):
    before = (repo / ".pvc" / "config").read_bytes()
    r = pvc("config", key, "5")
    assert r.exit_code == 2
    assert r.stderr.endswith(f"Error: {err}\n")
    assert (repo / ".pvc" / "config").read_bytes() == before
    assert pvc("config", "myteam.owner", "jane").exit_code == 0  # not pvc's section: kept
    assert pvc("config", "myteam.owner").stdout == "jane\n"


def test_config_save_never_leaves_a_half_written_file(repo, monkeypatch):
    """A save that dies while writing leaves the old file whole and no temporary file."""
    from promptvc.config import Config

    path = repo / ".pvc" / "config"
    config = Config(path)
    config.set("user", "name", "Jane Doe")
    config.save()
    before = path.read_bytes()
    mode = path.stat().st_mode

    def dies_halfway(fh, *args, **kwargs):
        fh.write("[user]\nname = Ja")
        raise KeyboardInterrupt  # as a kill would stop it

    config.set("user", "name", "John Roe")
    with monkeypatch.context() as patched:
        patched.setattr(config.parser, "write", dies_halfway)
        with pytest.raises(KeyboardInterrupt):
            config.save()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if "config" in p.name) == ["config"]
    config.save()
    assert Config(path).get("user", "name") == "John Roe"
    assert path.stat().st_mode == mode
    assert sorted(p.name for p in path.parent.iterdir() if "config" in p.name) == ["config"]


def test_an_atomic_write_that_dies_before_its_rename_leaves_the_old_file(tmp_path,
                                                                        monkeypatch):
    """fileio.write_atomic (config, credentials, journal): killed after the data went to
    the temporary file, the old file stays whole, keeps its mode, and no temporary file is
    left."""
    import os

    from promptvc import fileio

    path = tmp_path / "config"
    path.write_bytes(b"old\n")
    path.chmod(0o640)

    def dies(fd):
        raise KeyboardInterrupt  # as a kill would stop it

    with monkeypatch.context() as patched:
        patched.setattr(fileio.os, "fsync", dies)
        with pytest.raises(KeyboardInterrupt):
            fileio.write_atomic(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config"]
    fileio.write_atomic(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert path.stat().st_mode & 0o777 == 0o640
    fileio.write_atomic(tmp_path / "secret", b"s\n", mode=0o600)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["config", "secret"]


def test_config_never_echoes_a_token_pasted_as_a_variable_name(repo, pvc):
    assert pvc("remote", "add", "origin", "http://localhost:9").exit_code == 0
    secret = "eyJhbGciOiJFZERTQSJ9.eyJwIjoicnciIn0.SECRETSIGNATURE"
    for key in ("remote.origin.token_env", "search.token_env"):
        r = pvc("config", key, secret)
        assert r.exit_code == 1
        assert secret not in r.output and "SECRETSIGNATURE" not in r.output
        assert r.stderr.startswith(f"error: config value {key} is not an environment variable "
                                   "name (the value is not shown: it may be a token)\n")
    assert secret not in open(".pvc/config", encoding="utf-8").read()
