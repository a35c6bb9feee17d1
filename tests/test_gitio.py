"""`pvc import git` and `pvc export git`, against real git repositories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "bob@example.org")


@pytest.fixture(autouse=True)
def git_commands(monkeypatch):
    """Make `pvc import` / `pvc export` reachable whether or not main.py registers them yet."""
    from promptvc.cli.gitcmds import COMMANDS
    from promptvc.cli.main import cli

    for cmd in COMMANDS:
        if cmd.name not in cli.commands:
            monkeypatch.setitem(cli.commands, cmd.name, cmd)


def git(cwd: Path, *args: str, who=ALICE, date="2024-01-01T10:00:00+02:00",
        input: bytes | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME=who[0], GIT_AUTHOR_EMAIL=who[1],
               GIT_COMMITTER_NAME="Committer", GIT_COMMITTER_EMAIL="committer@example.com",
               GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, GIT_CONFIG_NOSYSTEM="1")
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, input=input, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode("utf-8", "replace")


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


def write(folder: Path, files: dict[str, bytes | None]) -> None:
    for name, data in files.items():
        p = folder / name
        if data is None:
            p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def commit_all(src: Path, message: str, **kw) -> str:
    git(src, "add", "-A")
    git(src, "commit", "-q", "--allow-empty", "-m", message, **kw)
    return git(src, "rev-parse", "HEAD").strip()


LONG = b"".join(b"line %d of a prompt that is long enough for rename detection\n" % i
                for i in range(30))


@pytest.fixture
def src(tmp_path) -> Path:
    """A git repository with adds, edits, deletes, a rename, binary files, CRLF, no final
    newline, two authors and time zones, and a multi-line message."""
    s = tmp_path / "src"
    s.mkdir()
    git(s, "init", "-q", "-b", "main")
    write(s, {"prompts/a.md": LONG, "notes.txt": b"notes\n", "crlf.md": b"one\r\ntwo\r\n",
              "nonl.md": b"no final newline", "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
              "latin1.txt": b"caf\xe9\n"})
    commit_all(s, "Add prompts")
    write(s, {"prompts/a.md": LONG + b"one more line\n", "notes.txt": None})
    commit_all(s, "Edit a, drop notes\n\nThe notes moved to the wiki.", who=BOB,
               date="2024-02-03T04:05:06-05:00")
    git(s, "mv", "prompts/a.md", "prompts/b.md")
    write(s, {"prompts/b.md": LONG + b"one more line\nand another\n",
              "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR2"})
    commit_all(s, "Rename a to b", date="2024-03-04T05:06:07+00:00")
    write(s, {"crlf.md": b"one\r\ntwo\r\nthree\r\n", "data/config.json": b"{\"k\": 1}\n"})
    commit_all(s, "More CRLF, add config", who=BOB, date="2024-04-05T06:07:08+05:30")
    return s


def pvc_json(pvc, *args):
    r = pvc(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def first_parent_shas(src: Path, rev: str = "HEAD") -> list[str]:
    return git(src, "rev-list", "--first-parent", "--reverse", rev).split()


def assert_same_files(pvc, src: Path, git_sha: str, pvc_id: str, skip=("logo.png", "latin1.txt")):
    git_paths = {p for p in git(src, "ls-tree", "-r", "--name-only", git_sha).splitlines()
                 if p not in skip}
    tree = pvc_json(pvc, "show", pvc_id)  # metadata only; the tree comes from the repo
    assert tree["id"] == pvc_id
    from promptvc.repo import Repo

    r = Repo.open()
    try:
        pvc_paths = set(r.tree(pvc_id))
    finally:
        r.close()
    assert pvc_paths == git_paths
    for path in git_paths:
        assert pvc("show", f"{pvc_id}:{path}").stdout_bytes == \
            git_bytes(src, "show", f"{git_sha}:{path}"), path


# -- import ---------------------------------------------------------------------------------
def test_import_replays_history_byte_for_byte(repo, pvc, src):
    r = pvc("import", "git", str(src))
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        f"Imported 4 git commits from {src} (HEAD) onto branch 'main': 4 commits, "
        "8 files added or changed\n"
        "Skipped 2 binary files (3 versions): latin1.txt, logo.png\n"
        f"Updated the working files to {pvc_json(pvc, 'log')[0]['id'][:8]}.\n")
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    log = list(reversed(pvc_json(pvc, "log")))
    assert [(c["author"], c["date"], c["message"]) for c in log] == [
        ("Alice Example <alice@example.com>", "2024-01-01T10:00:00+02:00", "Add prompts"),
        ("Bob Builder <bob@example.org>", "2024-02-03T04:05:06-05:00",
         "Edit a, drop notes\n\nThe notes moved to the wiki."),
        ("Alice Example <alice@example.com>", "2024-03-04T05:06:07+00:00", "Rename a to b"),
        ("Bob Builder <bob@example.org>", "2024-04-05T06:07:08+05:30", "More CRLF, add config"),
    ]
    changes = [sorted((c["status"], c["path"], c["old_path"]) for c in entry["changes"])
               for entry in log]
    assert changes == [
        [("A", "crlf.md", None), ("A", "nonl.md", None), ("A", "notes.txt", None),
         ("A", "prompts/a.md", None)],
        [("D", "notes.txt", None), ("M", "prompts/a.md", None)],
        [("R", "prompts/b.md", "prompts/a.md")],
        [("A", "data/config.json", None), ("M", "crlf.md", None)],
    ]
    for sha, entry in zip(first_parent_shas(src), log):
        assert_same_files(pvc, src, sha, entry["id"])
    # CRLF and a missing final newline survive, in the store and in the working files
    assert pvc("show", "HEAD:crlf.md").stdout_bytes == b"one\r\ntwo\r\nthree\r\n"
    assert pvc("show", "HEAD:nonl.md").stdout_bytes == b"no final newline"
    assert (repo / "crlf.md").read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    assert (repo / "nonl.md").read_bytes() == b"no final newline"
    assert not (repo / "logo.png").exists()
    assert pvc("log", "--oneline", "--", "prompts/b.md").stdout.count("\n") == 3  # follows rename
    assert pvc("status", "-s").stdout == ""
    assert pvc("fsck").exit_code == 0


def test_import_is_idempotent_and_incremental(repo, pvc, src):
    assert pvc("import", "git", str(src)).exit_code == 0
    head = pvc_json(pvc, "log")[0]["id"]
    r = pvc("import", "git", str(src))
    assert r.exit_code == 0
    assert r.stdout == (f"Already up to date: the 4 commits of HEAD in {src} are already on "
                        "branch 'main'\n")
    assert pvc_json(pvc, "log")[0]["id"] == head
    assert len(pvc_json(pvc, "log")) == 4
    write(src, {"prompts/b.md": b"rewritten\n"})
    commit_all(src, "Rewrite b", date="2024-05-01T00:00:00+00:00")
    r = pvc("import", "git", str(src))
    assert r.stdout.splitlines()[0] == (
        f"Imported 1 git commit from {src} (HEAD) onto branch 'main': 1 commit, 1 file added or changed "
        "(4 already imported before)")
    log = pvc_json(pvc, "log")
    assert len(log) == 5 and log[1]["id"] == head
    assert (repo / "prompts" / "b.md").read_bytes() == b"rewritten\n"
    data = pvc_json(pvc, "import", "git", str(src))
    assert (data["replayed"], data["already_imported"], data["commits_created"]) == (0, 5, 0)
    assert data["recognised_by"] == "map"
    assert len((repo / ".pvc" / "git-import-map").read_text().splitlines()) == 5


def test_without_the_map_imported_commits_are_recognised_by_metadata(repo, pvc, src):
    assert pvc("import", "git", str(src)).exit_code == 0
    (repo / ".pvc" / "git-import-map").unlink()  # e.g. a clone of this pvc repository
    data = pvc_json(pvc, "import", "git", str(src))
    assert (data["replayed"], data["already_imported"], data["recognised_by"]) == (0, 4, "metadata")
    write(src, {"nonl.md": b"now with a newline\n"})
    commit_all(src, "Newline", date="2024-06-01T00:00:00+00:00")
    data = pvc_json(pvc, "import", "git", str(src))
    assert (data["replayed"], data["commits_created"], data["recognised_by"]) == (1, 1, "metadata")
    assert len(pvc_json(pvc, "log")) == 5


def test_import_map_is_per_branch(repo, pvc, src):
    assert pvc("import", "git", str(src), "--branch", "mirror").exit_code == 0
    # the same git history is not on 'main' yet, so it is imported there too
    r = pvc_json(pvc, "import", "git", str(src))
    assert (r["replayed"], r["commits_created"]) == (4, 4)
    # and identical history gives identical commit ids (content-addressed)
    assert pvc_json(pvc, "log", "mirror")[0]["id"] == r["head"]


def test_import_include_exclude(repo, pvc, src):
    r = pvc_json(pvc, "import", "git", str(src), "--include", "*.md", "--include", "data/*",
                 "--exclude", "nonl.md")
    assert r["binary_skipped"]["files"] == 0
    from promptvc.repo import Repo

    repo_ = Repo.open()
    try:
        assert sorted(repo_.tree(repo_.head())) == ["crlf.md", "data/config.json", "prompts/b.md"]
    finally:
        repo_.close()
    log = pvc_json(pvc, "log")
    assert [c["message"] for c in log] == ["More CRLF, add config", "Rename a to b",
                                           "Edit a, drop notes\n\nThe notes moved to the wiki.",
                                           "Add prompts"]


def test_rename_out_of_and_into_the_selection(repo, pvc, tmp_path):
    s = tmp_path / "s"
    s.mkdir()
    git(s, "init", "-q", "-b", "main")
    write(s, {"keep/p.md": LONG})
    commit_all(s, "add")
    (s / "drop").mkdir()
    git(s, "mv", "keep/p.md", "drop/p.md")
    commit_all(s, "move out")
    git(s, "mv", "drop/p.md", "keep/q.md")
    commit_all(s, "move back in")
    r = pvc_json(pvc, "import", "git", str(s), "--include", "keep/")
    assert r["commits_created"] == 3
    log = list(reversed(pvc_json(pvc, "log")))
    assert [[(c["status"], c["path"]) for c in e["changes"]] for e in log] == [
        [("A", "keep/p.md")], [("D", "keep/p.md")], [("A", "keep/q.md")]]


def test_import_onto_other_branch_leaves_working_files(repo, pvc, src):
    (repo / "mine.md").write_text("mine\n")
    pvc("add", "mine.md")
    assert pvc("commit", "-m", "mine").exit_code == 0
    r = pvc("import", "git", str(src), "-b", "imported")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[-1] == ("Branch 'imported' is not the current branch; the "
                                         "working files were not changed.")
    assert sorted(p.name for p in repo.iterdir()) == [".pvc", "mine.md"]
    assert len(pvc_json(pvc, "log", "imported")) == 4  # a new branch starts from nothing


def test_import_with_local_changes_leaves_files_and_says_so(repo, pvc, src):
    (repo / "mine.md").write_text("mine\n")
    pvc("add", "mine.md")
    pvc("commit", "-m", "mine")
    (repo / "mine.md").write_text("edited\n")
    r = pvc("import", "git", str(src))
    assert r.exit_code == 0
    assert r.stderr == ("note: the working files were left as they were because they have "
                        "uncommitted changes; `pvc status` now compares them with the imported "
                        "head\n")
    assert (repo / "mine.md").read_text() == "edited\n"
    assert not (repo / "crlf.md").exists()
    assert len(pvc_json(pvc, "log")) == 5  # imported on top of 'mine'


def test_import_first_parent_of_merges_and_rev(repo, pvc, tmp_path):
    s = tmp_path / "s"
    s.mkdir()
    git(s, "init", "-q", "-b", "main")
    write(s, {"a.md": b"a\n"})
    commit_all(s, "a")
    git(s, "checkout", "-q", "-b", "side")
    write(s, {"side.md": b"s1\n"})
    commit_all(s, "side 1")
    write(s, {"side.md": b"s2\n"})
    commit_all(s, "side 2")
    git(s, "checkout", "-q", "main")
    write(s, {"a.md": b"a2\n"})
    commit_all(s, "main 2")
    git(s, "merge", "-q", "--no-ff", "side", "-m", "Merge side")
    data = pvc_json(pvc, "import", "git", str(s))
    assert data["replayed"] == 3
    log = pvc_json(pvc, "log")
    assert [c["message"] for c in log] == ["Merge side", "main 2", "a"]
    assert [(c["status"], c["path"]) for c in log[0]["changes"]] == [("A", "side.md")]
    assert pvc("show", "HEAD:side.md").stdout == "s2\n"
    side = pvc_json(pvc, "import", "git", str(s), "--rev", "side", "--branch", "side")
    assert side["replayed"] == 3
    assert [c["message"] for c in pvc_json(pvc, "log", "side")] == ["side 2", "side 1", "a"]


def test_symlinks_are_skipped(repo, pvc, tmp_path):
    s = tmp_path / "s"
    s.mkdir()
    git(s, "init", "-q", "-b", "main")
    write(s, {"a.md": b"a\n"})
    os.symlink("a.md", s / "link.md")
    commit_all(s, "with a link")
    r = pvc("import", "git", str(s))
    assert r.stdout.splitlines()[1] == ("Skipped 1 path pvc cannot store: link.md (it is a "
                                        "symbolic link)")
    assert not (repo / "link.md").exists()


def test_import_errors(repo, pvc, tmp_path, src):
    plain = tmp_path / "plain"
    plain.mkdir()
    r = pvc("import", "git", str(plain))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (f"error: '{plain}' is not a git repository\n"
                        "hint: give the folder that holds the .git folder, or a bare repository\n")
    r = pvc("import", "git", str(tmp_path / "nope"))
    assert (r.exit_code, r.stderr) == (1, f"error: '{tmp_path / 'nope'}' does not exist\n"
                                          "hint: give the path of a git repository\n")
    r = pvc("import", "git", str(src / "prompts"))
    assert r.exit_code == 1
    assert r.stderr == (f"error: '{src / 'prompts'}' is a folder inside the git repository at "
                        f"{src}, not its top\nhint: give {src} and choose files with --include "
                        "'prompts/*'\n")
    r = pvc("import", "git", str(src), "--rev", "nosuch")
    assert (r.exit_code, r.stderr) == (1, f"error: unknown revision 'nosuch' in the git "
                                          f"repository at {src}\nhint: see `git -C {src} branch "
                                          "-a` for names\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    r = pvc("import", "git", str(empty))
    assert (r.exit_code, r.stderr) == (1, f"error: the git repository at {empty} has no commits\n"
                                          "hint: commit something there first, or give --rev "
                                          "BRANCH\n")
    r = pvc("import", "git", str(src), "--branch", "bad name")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: 'bad name' is not a valid branch name")
    assert pvc_json(pvc, "log") == []


def test_import_from_bare_repository(repo, pvc, src, tmp_path):
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    data = pvc_json(pvc, "import", "git", str(bare))
    assert (data["replayed"], data["commits_created"]) == (4, 4)


# -- export ---------------------------------------------------------------------------------
def _pvc_history(repo: Path, pvc) -> None:
    """A pvc history with adds, edits, a rename, a delete, odd bytes and odd file names."""
    dates = iter(f"2025-0{m}-01T12:00:00{tz}" for m, tz in
                 zip(range(1, 10), ["+00:00", "+02:00", "-07:00", "+05:30", "+00:00", "+01:00"]))

    def commit(msg, author="Test User <test@example.com>"):
        r = pvc("commit", "-m", msg, "--date", next(dates), "--author", author)
        assert r.exit_code == 0, r.output

    write(repo, {"a.md": b"alpha\n", "crlf.md": b"x\r\ny\r\n", "nonl.md": b"end",
                 "sp ace.md": b"spaces in the name\n", "uni.md": "h\u00e9llo \u2603\n".encode(),
                 "empty.md": b"", "sub/deep/p.md": LONG})
    pvc("add", "a.md", "crlf.md", "nonl.md", "sp ace.md", "uni.md", "empty.md", "sub/deep/p.md")
    commit("first\n\nwith a body")
    write(repo, {"a.md": b"alpha\nbeta\n", "crlf.md": b"x\r\nY\r\n"})
    commit("second", "Other Person <other@example.com>")
    assert pvc("mv", "sub/deep/p.md", "moved.md").exit_code == 0
    commit("rename")
    assert pvc("rm", "nonl.md").exit_code == 0
    write(repo, {"a.md": b"alpha\n"})  # back to the first version
    commit("delete and revert")


def test_export_round_trip(repo, pvc, tmp_path):
    _pvc_history(repo, pvc)
    out = tmp_path / "exported"
    r = pvc("export", "git", str(out))
    assert r.exit_code == 0, r.output
    log = list(reversed(pvc_json(pvc, "log")))
    git_head = git(out, "rev-parse", "HEAD").strip()
    assert r.stdout == (f"Exported 4 commits of branch 'main' (9 distinct file contents) to the git "
                        f"repository {out}\npvc {log[-1]['id'][:8]} = git {git_head[:8]}\n")
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=out,
                          capture_output=True, text=True)
    assert (fsck.returncode, fsck.stdout, fsck.stderr) == (0, "", "")
    shas = first_parent_shas(out)
    assert len(shas) == len(log) == int(git(out, "rev-list", "--count", "--all"))
    assert git(out, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    from promptvc.gitio import git_date

    for sha, entry in zip(shas, log):
        meta = git(out, "log", "-1", "--format=%an <%ae>%x00%ad%x00%cn <%ce>%x00%cd%x00%B",
                   "--date=raw", sha).split("\0")
        assert meta[0] == meta[2] == entry["author"]
        assert meta[1] == meta[3] == git_date(entry["date"])
        assert meta[4] == entry["message"] + "\n\n"  # git ends a message with \n; log adds one
        assert_same_files(pvc, out, sha, entry["id"], skip=())
    # the working folder is checked out and clean
    assert git(out, "status", "--porcelain") == ""
    assert (out / "crlf.md").read_bytes() == b"x\r\nY\r\n"
    assert (out / "sp ace.md").read_bytes() == b"spaces in the name\n"


def test_export_then_import_gives_identical_commit_ids(repo, pvc, tmp_path, monkeypatch):
    _pvc_history(repo, pvc)
    head = pvc_json(pvc, "log")[0]["id"]
    out = tmp_path / "exported"
    assert pvc("export", "git", str(out)).exit_code == 0
    again = tmp_path / "again"
    again.mkdir()
    monkeypatch.chdir(again)
    assert pvc("init").exit_code == 0
    data = pvc_json(pvc, "import", "git", str(out))
    assert data["head"] == head


def test_export_other_branch_and_errors(repo, pvc, tmp_path):
    r = pvc("export", "git", str(tmp_path / "x"))
    assert (r.exit_code, r.stderr) == (1, "error: branch 'main' has no commits yet; there is "
                                          "nothing to export\nhint: make a commit first with "
                                          "`pvc commit -m MSG`\n")
    _pvc_history(repo, pvc)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    r = pvc("export", "git", str(busy))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (f"error: cannot export to '{busy}': the folder is not empty\n"
                        "hint: give a new or empty folder\n")
    assert sorted(p.name for p in busy.iterdir()) == ["file"]
    r = pvc("export", "git", str(busy / "file"))
    assert r.stderr == (f"error: cannot export to '{busy / 'file'}': it exists and is not a "
                        "folder\nhint: give a new or empty folder\n")
    r = pvc("export", "git", str(tmp_path / "y"), "--branch", "nosuch")
    assert (r.exit_code, r.stderr) == (1, "error: branch 'nosuch' not found\n"
                                          "hint: see `pvc branch` for the list\n")
    assert not (tmp_path / "y").exists()
    assert pvc("branch", "feature").exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    data = pvc_json(pvc, "export", "git", str(empty), "--branch", "feature")
    assert data["commits"] == 4
    assert git(empty, "symbolic-ref", "HEAD").strip() == "refs/heads/feature"


def test_parse_log_handles_odd_messages_and_paths():
    from promptvc.gitio import parse_log

    sha = "a" * 40
    blob = "b" * 40
    out = (f"{sha}\0\0N\0e@x\0" "2024-01-01T00:00:00+00:00\0" "msg: with :colon\n\0"
           f"\n:000000 100644 {'0' * 40} {blob} A\0:odd name\0"
           f":100644 100644 {blob} {blob} R087\0old\0" f"{'c' * 40}\0"
           f"{'c' * 40}\0{sha}\0N\0e@x\0" "2024-01-01T00:00:00+00:00\0" "no diff\0").encode()
    commits = parse_log(out)
    assert [c.message for c in commits] == ["msg: with :colon", "no diff"]
    assert [(ch.status, ch.path, ch.old_path) for ch in commits[0].changes] == [
        ("A", b":odd name", None), ("R", b"c" * 40, b"old")]
    assert commits[1].changes == [] and commits[1].parents == [sha]


def test_import_git_working_folder_into_pvc_repository_in_place(repo, pvc):
    """The common start: `pvc init` inside a git checkout, then `pvc import git .`."""
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"p.md": b"v1\n", "q.md": b"q\r\n"})
    commit_all(repo, "one")
    write(repo, {"p.md": b"v2\n"})
    commit_all(repo, "two")
    r = pvc("import", "git", ".")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1].startswith("Updated the working files to ")
    assert pvc("status", "--no-untracked", "-s").stdout == ""
    assert (repo / "p.md").read_bytes() == b"v2\n"


def test_progress_is_shown_on_a_terminal(repo, src):
    import pty
    import sys

    boot = ("import sys; from promptvc.cli.main import cli, main; "
            "from promptvc.cli.gitcmds import COMMANDS; "
            "[cli.add_command(c) for c in COMMANDS if c.name not in cli.commands]; "
            "main(sys.argv[1:])")
    leader, follower = pty.openpty()
    proc = subprocess.run([sys.executable, "-c", boot, "import", "git", str(src)], cwd=repo,
                          stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(leader)
    assert proc.returncode == 0
    # click's progress bar, drawn on the terminal only
    assert b"importing git commits  [" + b"#" * 36 + b"]  4/4" in err
    assert proc.stdout.startswith(b"Imported 4 git commits")


def test_import_refused_while_a_merge_is_in_progress(repo, pvc, src):
    (repo / "p.md").write_text("base\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "base")
    pvc("switch", "-c", "other")
    (repo / "p.md").write_text("other\n")
    pvc("commit", "-m", "other")
    pvc("switch", "main")
    (repo / "p.md").write_text("mine\n")
    pvc("commit", "-m", "mine")
    if pvc("merge", "other").exit_code == 0:
        pytest.skip("the merge did not stop on a conflict")
    r = pvc("import", "git", str(src))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("error: a merge is in progress on branch 'main'\nhint: finish it with "
                        "`pvc merge --continue` or `pvc merge --abort`, or import onto another "
                        "branch with --branch\n")
    assert pvc_json(pvc, "import", "git", str(src), "--branch", "elsewhere")["replayed"] == 4
