"""Bad input through the CLI: odd bytes, odd names, odd paths, broken config, newer or
read-only databases, a full disk.

Each case asserts pvc's exact error text and that nothing was lost: the repository still
passes `pvc fsck` and earlier commits still read back byte for byte. Where pvc prints an
"internal error" or a traceback today, the test states the clear message it should print
and is marked ``xfail(strict=True)``; the reason names the code at fault.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from promptvc.delta import split_lines

DATE = "2026-01-02T03:04:05+00:00"
AUTHOR = "Test User <test@example.com>"
REF_HINT = "hint: use letters, digits, '-', '_', '.' and '/' (git's ref-name rules)\n"


def commit(pvc, msg, *args):
    r = pvc("commit", "-m", msg, "--date", DATE, *args)
    assert r.exit_code == 0, r.output
    return r


def head_id(pvc) -> str:
    r = pvc("log", "-n", "1", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)[0]["id"]


def assert_intact(pvc, reads: dict[str, bytes] | None = None) -> None:
    """fsck is clean and every REV:PATH in READS shows exactly its bytes."""
    r = pvc("fsck")
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith(": no problems found\n"), r.stdout
    for spec, data in (reads or {}).items():
        shown = pvc("show", spec)
        assert shown.exit_code == 0, (spec, shown.stderr)
        assert shown.stdout_bytes == data, spec


@pytest.fixture
def base(repo, pvc):
    """A repository with one commit of a.md ("first\\n")."""
    (repo / "a.md").write_bytes(b"first\n")
    pvc("add", "a.md")
    commit(pvc, "first")
    return repo


def _git() -> bool:
    return shutil.which("git") is not None


# -- binary and non-UTF-8 content ----------------------------------------------------------
def test_binary_file_refused_at_add(base, pvc):
    (base / "img.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    r = pvc("add", "img.md")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == ("error: cannot add 'img.md': it is a binary file (it contains NUL bytes)\n"
                        "hint: pvc versions text prompts only; leave this file out\n")
    assert pvc("status", "-s").stdout == "?? img.md\n"
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


def test_folder_with_a_binary_file_adds_nothing(base, pvc):
    (base / "p").mkdir()
    (base / "p" / "ok.md").write_bytes(b"fine\n")
    (base / "p" / "nul.txt").write_bytes(b"a\x00b")
    r = pvc("add", "p")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot add 'p/nul.txt': it is a binary file (it contains NUL "
                        "bytes)\nhint: pvc versions text prompts only; leave this file out\n")
    assert pvc("status", "-s", "--no-untracked").stdout == ""  # nothing was half-added


def test_invalid_utf8_refused_at_add(base, pvc):
    (base / "latin.md").write_bytes(b"caf\xe9 cr\xe8me\n")
    r = pvc("add", "latin.md")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot add 'latin.md': it is not valid UTF-8 text (bad byte at "
                        "offset 3)\nhint: pvc versions text prompts only; leave this file out\n")
    (base / "trunc.md").write_bytes("ok ✓".encode()[:-1])  # a multi-byte char cut short
    r = pvc("add", "trunc.md")
    assert r.stderr == ("error: cannot add 'trunc.md': it is not valid UTF-8 text (bad byte at "
                        "offset 3)\nhint: pvc versions text prompts only; leave this file out\n")
    assert pvc("status", "-s", "--no-untracked").stdout == ""
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


@pytest.mark.parametrize("data, problem", [
    (b"first\n\x00\n", "it is a binary file (it contains NUL bytes)"),
    (b"first\n\xff\xfe\n", "it is not valid UTF-8 text (bad byte at offset 6)"),
])
def test_tracked_file_turned_binary_refused_at_commit(base, pvc, data, problem):
    before = head_id(pvc)
    (base / "a.md").write_bytes(data)
    r = pvc("commit", "-m", "oops")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (f"error: cannot commit 'a.md': {problem}\n"
                        "hint: stop tracking it with `pvc rm --cached a.md`\n")
    assert head_id(pvc) == before
    assert (base / "a.md").read_bytes() == data  # the working file is left alone
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


# -- line endings, final newlines, empty files: byte for byte everywhere ------------------------
ODD_TEXTS = {
    "crlf": b"one\r\ntwo\r\nthree\r\n",
    "mixed": b"lf\ncrlf\r\nlone cr\rstill that line\nend\r\n",
    "lone-cr": b"a\rb\rc",
    "no-final-newline": b"one\ntwo",
    "crlf-no-final-newline": b"one\r\ntwo",
    "empty": b"",
    "only-newlines": b"\n\n\n",
    "blank-crlf-lines": b"\r\n\r\n",
    "bom": b"\xef\xbb\xbfhello\r\nworld\r\n",
    "unicode": "héllo ✓\n日本語 🎉\nﬁn\n".encode(),
    "trailing-whitespace": b"a  \t\n \n\t",
    "diff-syntax": b"+x\n-y\n@@ -1 +1 @@\n\\ No newline at end of file\n--- a/f\n",
}


def _edited(data: bytes) -> bytes:
    """DATA with its first line changed and a line inserted in the middle."""
    lines = split_lines(data)
    if lines:
        lines[0] = b"X" + lines[0]
    lines.insert(len(lines) // 2, b"inserted\n")
    return b"".join(lines)


@pytest.mark.parametrize("name", list(ODD_TEXTS))
def test_odd_text_round_trips_through_every_command(repo, pvc, name, tmp_path):
    v1 = ODD_TEXTS[name]
    v2 = _edited(v1)
    f = repo / "p.md"
    f.write_bytes(v1)
    assert pvc("add", "p.md").exit_code == 0
    commit(pvc, "v1")
    assert pvc("show", "HEAD:p.md").stdout_bytes == v1
    assert pvc("status", "-s").stdout == ""

    f.write_bytes(v2)
    work_diff = pvc("diff").stdout_bytes
    assert work_diff.startswith(b"diff --git a/p.md b/p.md\n--- a/p.md\n+++ b/p.md\n@@ ")
    if _git():  # the printed diff rebuilds v2 from v1 byte for byte
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / "p.md").write_bytes(v1)
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=copy, input=work_diff,
                       check=True)
        assert (copy / "p.md").read_bytes() == v2
    commit(pvc, "v2")
    assert pvc("diff", "HEAD~1", "HEAD").stdout_bytes == work_diff
    assert pvc("show", "HEAD~1:p.md").stdout_bytes == v1
    assert pvc("show", "HEAD:p.md").stdout_bytes == v2

    f.write_bytes(b"scribble\n")  # restore: from HEAD and from an older commit
    assert pvc("restore", "p.md").stdout == "Restored 1 file from HEAD\n"
    assert f.read_bytes() == v2
    assert pvc("restore", "--source", "HEAD~1", "p.md").exit_code == 0
    assert f.read_bytes() == v1
    pvc("restore", "p.md")

    assert pvc("branch", "old", "HEAD~1").exit_code == 0  # switch both ways
    assert pvc("switch", "old").exit_code == 0
    assert f.read_bytes() == v1
    assert pvc("switch", "main").exit_code == 0
    assert f.read_bytes() == v2
    assert pvc("status", "-s").stdout == ""
    assert_intact(pvc, {"HEAD~1:p.md": v1, "HEAD:p.md": v2, "old:p.md": v1})


def test_crlf_diff_is_exact(repo, pvc):
    (repo / "c.md").write_bytes(b"one\r\ntwo\r\nthree")
    pvc("add", "c.md")
    commit(pvc, "crlf")
    (repo / "c.md").write_bytes(b"one\r\nTWO\r\nthree\r\n")
    assert pvc("diff").stdout_bytes == (
        b"diff --git a/c.md b/c.md\n--- a/c.md\n+++ b/c.md\n@@ -1,3 +1,3 @@\n one\r\n"
        b"-two\r\n-three\n\\ No newline at end of file\n+TWO\r\n+three\r\n")


# -- big files ---------------------------------------------------------------------------------
def _timed(pvc, *args):
    t0 = time.perf_counter()
    r = pvc(*args)
    return r, time.perf_counter() - t0


def test_fifty_megabyte_file(repo, pvc, capsys):
    """Commit 50 MB, edit one line in the middle, commit again; both versions read back."""
    import random

    rnd = random.Random(50)
    words = [f"w{rnd.randrange(10**6):06d}" for _ in range(5000)]
    sentences = [" ".join(rnd.choice(words) for _ in range(9)) for _ in range(5000)]
    lines = [f"{i:07d} {rnd.choice(sentences)}\n" for i in range(50 * 2**20 // 80)]
    v1 = "".join(lines).encode()
    assert len(v1) == 50 * 2**20
    mid = len(lines) // 2
    old_mid = lines[mid].encode()
    lines[mid] = "edited in the middle\n"
    v2 = "".join(lines).encode()
    (repo / "big.md").write_bytes(v1)
    times = {}
    r, times["add"] = _timed(pvc, "add", "big.md")
    assert r.exit_code == 0
    r, times["commit 1"] = _timed(pvc, "commit", "-m", "big", "--date", DATE)
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith(f" 1 file changed, {len(lines)} insertions(+)\n")
    (repo / "big.md").write_bytes(v2)
    r, times["commit 2"] = _timed(pvc, "commit", "-m", "edit", "--date", DATE)
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith(" 1 file changed, 1 insertion(+), 1 deletion(-)\n")
    r, times["show v1"] = _timed(pvc, "show", "HEAD~1:big.md")
    assert r.stdout_bytes == v1
    r, times["show v2"] = _timed(pvc, "show", "HEAD:big.md")
    assert r.stdout_bytes == v2
    r, times["diff"] = _timed(pvc, "diff", "HEAD~1", "HEAD")
    changed = [x for x in r.stdout_bytes.split(b"\n")[3:] if x[:1] in (b"-", b"+")]
    assert changed == [b"-" + old_mid[:-1], b"+edited in the middle"]
    r, times["fsck"] = _timed(pvc, "fsck")
    assert r.exit_code == 0
    db = (repo / ".pvc" / "pvc.db").stat().st_size
    with capsys.disabled():
        print("\n50 MB file: " + ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
              + f"; database {db / 2**20:.1f} MB")


def test_one_megabyte_single_line(repo, pvc):
    v1 = b"".join(b"token%06d " % i for i in range(90_000))  # ~1 MB, no newline at all
    assert len(v1) > 2**20 - 100_000 and b"\n" not in v1
    v2 = v1[:500_000] + b"CHANGED" + v1[500_007:]
    (repo / "line.md").write_bytes(v1)
    pvc("add", "line.md")
    r = commit(pvc, "one line")
    assert r.stdout.endswith(" 1 file changed, 1 insertion(+)\n")
    (repo / "line.md").write_bytes(v2)
    r = commit(pvc, "edit it")
    assert r.stdout.endswith(" 1 file changed, 1 insertion(+), 1 deletion(-)\n")
    assert pvc("show", "HEAD~1:line.md").stdout_bytes == v1
    assert pvc("show", "HEAD:line.md").stdout_bytes == v2
    d = pvc("diff", "HEAD~1", "HEAD").stdout_bytes
    assert d == (b"diff --git a/line.md b/line.md\n--- a/line.md\n+++ b/line.md\n@@ -1 +1 @@\n-"
                 + v1 + b"\n\\ No newline at end of file\n+" + v2
                 + b"\n\\ No newline at end of file\n")
    assert_intact(pvc)


# -- symbolic links ------------------------------------------------------------------------------
@pytest.fixture
def links(base, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.md").write_bytes(b"outside\n")
    (base / "d").mkdir()
    (base / "d" / "in.md").write_bytes(b"inside\n")
    os.symlink("a.md", base / "link.md")
    os.symlink(outside / "x.md", base / "out.md")
    os.symlink("d", base / "dlink")
    os.symlink(outside, base / "olink")
    os.symlink("nowhere.md", base / "dangling.md")
    return base


@pytest.mark.parametrize("name", ["link.md", "out.md", "dlink", "olink", "dangling.md"])
def test_add_symlink_refused(links, pvc, name):
    r = pvc("add", name)
    assert r.exit_code == 1
    assert r.stderr == (f"error: '{name}' is a symbolic link; pvc tracks regular files only\n"
                        "hint: add the file the link points to\n")
    assert pvc("status", "-s", "--no-untracked").stdout == ""
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


def test_add_folder_skips_symlinks(links, pvc):
    r = pvc("add", ".")
    assert r.exit_code == 0
    assert r.stdout == "add 'd/in.md'\n"
    assert pvc("status", "-s").stdout == "A  d/in.md\n"


def test_add_through_symlinked_folder_outside_refused(links, pvc):
    r = pvc("add", "olink/x.md")
    assert r.exit_code == 1
    assert r.stderr == (f"error: 'olink/x.md' is outside the repository at {links}\n"
                        "hint: give a path inside the repository\n")


# -- paths outside the repository and inside .pvc/ -----------------------------------------------
def _path_commands(path: str) -> list[tuple[str, ...]]:
    return [("add", path), ("rm", path), ("rm", "--cached", path), ("mv", path, "b.md"),
            ("mv", "a.md", path), ("restore", path), ("commit", "-m", "x", path),
            ("diff", "--", path), ("log", "--", path)]


@pytest.mark.parametrize("args", _path_commands("../x.md") + _path_commands("sub/../../x.md"),
                         ids=lambda a: " ".join(a))
def test_path_outside_repository(base, pvc, args):
    (base / "sub").mkdir()
    (base.parent / "x.md").write_bytes(b"outside\n")
    raw = args[-1] if args[-1] != "b.md" else args[-2]
    r = pvc(*args)
    assert r.exit_code == 1
    assert r.stderr == (f"error: '{raw}' is outside the repository at {base}\n"
                        "hint: give a path inside the repository\n")
    assert (base.parent / "x.md").read_bytes() == b"outside\n"
    assert pvc("status", "-s").stdout == ""
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


def test_absolute_path_outside_repository(base, pvc, tmp_path):
    other = tmp_path / "elsewhere.md"
    other.write_bytes(b"x\n")
    for args in (("add", str(other)), ("mv", "a.md", str(other)), ("restore", str(other))):
        r = pvc(*args)
        assert r.exit_code == 1
        assert r.stderr == (f"error: '{other}' is outside the repository at {base}\n"
                            "hint: give a path inside the repository\n")
    assert other.read_bytes() == b"x\n"
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


@pytest.mark.parametrize("args", [*_path_commands(".pvc/config"), ("add", ".pvc"),
                                  ("add", "./.pvc/pvc.db"), ("add", "sub/../.pvc/x.md"),
                                  ("mv", "a.md", ".pvc")],
                         ids=lambda a: " ".join(a))
def test_path_inside_pvc_folder(base, pvc, args):
    (base / "sub").mkdir()
    config = (base / ".pvc" / "config").read_bytes()
    raw = args[-1] if args[-1] != "b.md" else args[-2]
    r = pvc(*args)
    assert r.exit_code == 1
    assert r.stderr == (f"error: '{raw}' is inside .pvc/, pvc's own folder\n"
                        "hint: give a path to a prompt file\n")
    assert (base / ".pvc" / "config").read_bytes() == config
    assert (base / "a.md").read_bytes() == b"first\n"
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


def test_path_inside_pvc_folder_from_within_it(base, pvc, monkeypatch):
    monkeypatch.chdir(base / ".pvc")
    r = pvc("add", "config")
    assert r.exit_code == 1
    assert r.stderr == ("error: 'config' is inside .pvc/, pvc's own folder\n"
                        "hint: give a path to a prompt file\n")


# -- file names: case-only renames, Unicode normalization, non-UTF-8 bytes ----------------------
def test_case_only_rename(base, pvc):
    (base / "a.md").write_bytes(b"first\nsecond\n")
    commit(pvc, "second")
    r = pvc("mv", "a.md", "A.md")
    assert (r.exit_code, r.stdout) == (0, "renamed 'a.md' -> 'A.md'\n")
    assert sorted(os.listdir(base)) == [".pvc", "A.md"]
    assert pvc("status", "-s").stdout == "R  a.md -> A.md\n"
    r = commit(pvc, "rename")
    assert r.stdout.endswith("] rename\n 1 file changed\n")
    log = pvc("log", "--oneline", "--", "A.md").stdout
    assert [line.split(" ", 1)[1] for line in log.splitlines()] == [
        "(HEAD -> main) rename", "second", "first"]
    assert pvc("status", "-s").stdout == ""
    r = pvc("show", "HEAD:a.md")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: path 'a.md' does not exist in HEAD (")
    assert_intact(pvc, {"HEAD:A.md": b"first\nsecond\n", "HEAD~1:a.md": b"first\nsecond\n",
                        "HEAD~2:a.md": b"first\n"})


NFC = unicodedata.normalize("NFC", "café.md")
NFD = unicodedata.normalize("NFD", "café.md")


def test_nfc_and_nfd_names(base, pvc):
    """Today: both files are listed as untracked, the first one added wins and the other
    is refused (they would be one file on macOS and Windows); lookups are exact."""
    assert NFC != NFD
    (base / NFC).write_bytes(b"composed\n")
    (base / NFD).write_bytes(b"decomposed\n")
    assert sorted(os.listdir(base)) == sorted([".pvc", "a.md", NFC, NFD])
    assert pvc("status", "-s").stdout_bytes == b"".join(
        b"?? " + n.encode() + b"\n" for n in sorted([NFC, NFD]))
    r = pvc("add", ".")  # both at once: refused, nothing added
    assert r.exit_code == 1
    assert r.stderr in [f"error: cannot add '{b}': tracked '{a}' has the same name in another "
                        "Unicode normalization (NFC/NFD)\nhint: rename one of the two files\n"
                        for a, b in ((NFC, NFD), (NFD, NFC))]
    assert pvc("status", "-s", "--no-untracked").stdout == ""
    assert pvc("add", NFC).stdout == f"add '{NFC}'\n"
    r = pvc("add", NFD)
    assert r.exit_code == 1
    assert r.stderr == (f"error: cannot add '{NFD}': tracked '{NFC}' has the same name in "
                        "another Unicode normalization (NFC/NFD)\n"
                        "hint: rename one of the two files\n")
    commit(pvc, "cafe")
    assert pvc("status", "-s").stdout == f"?? {NFD}\n"
    r = pvc("show", f"HEAD:{NFD}")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: path '{NFD}' does not exist in HEAD (")
    assert_intact(pvc, {f"HEAD:{NFC}": b"composed\n", "HEAD:a.md": b"first\n"})


def _bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(data)


def test_add_non_utf8_file_name(base, pvc):
    _bytes_name(base, b"caf\xe9.md", b"text\n")
    r = pvc("add", ".")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot add 'caf\\xe9.md': its name is not valid UTF-8 (bad byte "
                        "at offset 3)\nhint: rename it; pvc stores file names as UTF-8\n")


def test_show_non_utf8_revision(base, pvc):
    r = pvc("show", "\udcff")
    assert r.exit_code == 1
    assert r.stderr == ("error: unknown revision '\\xff'\nhint: see `pvc log` for commit ids "
                        "and `pvc branch` / `pvc tag` for names\n")


def test_branch_non_utf8_name(base, pvc):
    r = pvc("branch", "\udcff")
    assert r.exit_code == 1
    assert r.stderr == ("error: '\\xff' is not a valid branch name: it is not valid UTF-8\n"
                        + REF_HINT)


def test_show_huge_tilde_count(base, pvc):
    rev = "HEAD~" + "9" * 5000
    r = pvc("show", rev)
    assert r.exit_code == 1
    assert r.stderr == (f"error: revision '{rev}' goes past the first commit\n"
                        "hint: use a smaller number\n")


# -- invalid branch and tag names ----------------------------------------------------------------
SPECIAL = "it contains a space, a control character or one of ~ ^ : ? * [ \\"
BAD_NAMES = [
    ("a..b", "it contains '..'"),
    ("a b", SPECIAL),
    ("-x", "it starts with '-'"),
    ("x.lock", "a component ends with '.lock'"),
    ("a/b.lock", "a component ends with '.lock'"),
    ("x/", "it has an empty path component"),
    ("/x", "it has an empty path component"),
    ("a//b", "it has an empty path component"),
    ("@", "'@' is reserved"),
    ("HEAD", "'HEAD' is reserved"),
    ("a@{b", "it contains '@{'"),
    ("@{-1}", "it contains '@{'"),
    (".x", "a component starts with '.'"),
    ("a/.x", "a component starts with '.'"),
    ("x.", "it ends with '.'"),
    ("x~1", SPECIAL),
    ("x^", SPECIAL),
    ("x:y", SPECIAL),
    ("x?", SPECIAL),
    ("x*", SPECIAL),
    ("x[", SPECIAL),
    ("x\\y", SPECIAL),
    ("a\tb", SPECIAL),
    ("a\x01b", SPECIAL),
    ("a\x1bb", SPECIAL),
    ("a\x7fb", SPECIAL),
    ("a\nb", SPECIAL),
]


@pytest.mark.parametrize("command", ["branch", "tag", "switch -c"])
@pytest.mark.parametrize("name, problem", BAD_NAMES, ids=[repr(n) for n, _ in BAD_NAMES])
def test_invalid_ref_names(base, pvc, command, name, problem):
    what = "tag" if command == "tag" else "branch"
    r = pvc(*command.split(), "--", name)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == f"error: '{name}' is not a valid {what} name: {problem}\n" + REF_HINT
    assert pvc("branch").stdout == "* main\n"
    assert pvc("tag").stdout == ""
    if _git() and name != "@":  # git refuses them too (its --branch mode accepts '@')
        g = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True)
        assert g.returncode != 0


def test_invalid_initial_branch_name(repo_dir, pvc):
    r = pvc("init", "-b", "a..b", "sub")
    assert r.exit_code == 1
    assert r.stderr == "error: 'a..b' is not a valid branch name: it contains '..'\n" + REF_HINT
    assert not (repo_dir / "sub").exists()


def test_empty_name_with_switch_c(base, pvc):
    r = pvc("switch", "-c", "")
    assert r.exit_code == 1
    assert r.stderr == "error: '' is not a valid branch name: it is empty\n" + REF_HINT


@pytest.mark.parametrize("command", ["branch", "tag"])
def test_empty_ref_name_refused(base, pvc, command):
    r = pvc(command, "")
    assert r.exit_code == 1
    assert r.stderr == f"error: '' is not a valid {command} name: it is empty\n" + REF_HINT


# -- a malformed .pvc/config ---------------------------------------------------------------------
MALFORMED = "hint: fix or remove the offending line (it is an INI file)\n"


def _config_cases(cfg: Path) -> list[tuple[bytes, str]]:
    return [
        (b"[core\nbroken", f"error: the repository config {cfg} is malformed: File contains no "
                           "section headers.\n" + MALFORMED),
        (b"no section\n", f"error: the repository config {cfg} is malformed: File contains no "
                          "section headers.\n" + MALFORMED),
        (b"[core]\na = 1\na = 2\n", f"error: the repository config {cfg} is malformed: While "
                                    f"reading from {cfg!r} [line  3]: option 'a' in section "
                                    "'core' already exists\n" + MALFORMED),
        (b"[core]\n\xff\n", f"error: the repository config {cfg} is malformed: 'utf-8' codec "
                            "can't decode byte 0xff in position 7: invalid start byte\n"
                            + MALFORMED),
        (b"[core]\nmax_chain_length = abc\n",
         f"error: config value core.max_chain_length = 'abc' in {cfg} is not a whole number\n"
         "hint: set it with `pvc config core.max_chain_length N`\n"),
        (b"[core]\nmax_chain_ratio = lots\n",
         f"error: config value core.max_chain_ratio = 'lots' in {cfg} is not a number\n"
         "hint: set it with `pvc config core.max_chain_ratio N`\n"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_malformed_config(base, pvc, case):
    cfg = base / ".pvc" / "config"
    good = cfg.read_bytes()
    content, message = _config_cases(cfg)[case]
    cfg.write_bytes(content)
    (base / "a.md").write_bytes(b"first\nmore\n")
    for args in (("status",), ("log",), ("commit", "-m", "x"), ("fsck",)):
        r = pvc(*args)
        assert r.exit_code == 1, args
        assert r.stdout == ""
        assert r.stderr == message, args
    assert cfg.read_bytes() == content  # never rewritten behind the user's back
    cfg.write_bytes(good)
    assert pvc("status", "-s").stdout == " M a.md\n"
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


# -- a database from a newer pvc ---------------------------------------------------------------
def _set_user_version(repo: Path, value: int) -> None:
    from promptvc.store import Store

    s = Store(str(repo / ".pvc" / "pvc.db"))
    s.conn.execute(f"PRAGMA user_version = {value}")
    s.close()


@pytest.mark.parametrize("ahead", [1, 99, None], ids=["next", "plus-99", "int32-max"])
def test_database_from_newer_pvc(base, pvc, ahead):
    from promptvc.store.schema import SCHEMA_VERSION

    version = 2**31 - 1 if ahead is None else SCHEMA_VERSION + ahead
    db = base / ".pvc" / "pvc.db"
    _set_user_version(base, version)
    (base / "b.md").write_bytes(b"b\n")
    for args in (("status",), ("log",), ("add", "b.md"), ("commit", "-m", "x"), ("fsck",),
                 ("show", "HEAD:a.md")):
        r = pvc(*args)
        assert r.exit_code == 1, args
        assert r.stdout == ""
        assert r.stderr == (f"error: the repository database {db} has schema version {version}, "
                            f"but this pvc knows versions up to {SCHEMA_VERSION}\n"
                            "hint: upgrade pvc (pip install -U promptvc) to use this "
                            "repository\n"), args
    _set_user_version(base, SCHEMA_VERSION)  # the newer pvc's data is untouched
    assert pvc("status", "-s").stdout == "?? b.md\n"
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})


# -- a read-only .pvc/ and a full disk (private mount namespaces) ----------------------------------
def _namespace_or_skip(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("unshare or mount is not installed")
    probe = tmp_path / "probe"
    probe.mkdir()
    p = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"',
                        str(probe)], capture_output=True, text=True)
    probe.rmdir()
    if p.returncode != 0:
        pytest.skip(f"cannot mount in a private mount namespace: {p.stderr.strip()}")


_RUN = 'run() { n=$1; shift; "$PY" -m promptvc "$@" >"$OUT/$n.out" 2>"$OUT/$n.err"; ' \
       'echo $? >"$OUT/$n.rc"; }\n'


def _namespace(script: str, *args: str) -> None:
    """Run SCRIPT with sh in a private mount namespace ($0 = python, then ARGS)."""
    p = subprocess.run(["unshare", "-m", "sh", "-c", "set -u\nPY=$0\n" + _RUN + script,
                        sys.executable, *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def _result(out: Path, name: str) -> tuple[int, str, str]:
    return (int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(),
            (out / f"{name}.err").read_text())


@pytest.fixture
def read_only_run(base, pvc, tmp_path):
    """In a namespace where .pvc/ is a read-only bind mount: commit an edit, log, show."""
    _namespace_or_skip(tmp_path)
    (base / "a.md").write_bytes(b"first\nedited\n")
    out = tmp_path / "out"
    out.mkdir()
    _namespace(
        'D="$1/.pvc"; OUT=$2; cd "$1"\n'
        'mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" || exit 3\n'
        'if touch "$D/probe" 2>/dev/null; then exit 4; fi\n'
        'run commit commit -m x\nrun log log --oneline\nrun show show HEAD:a.md\n',
        str(base), str(out))
    return out


def test_read_only_pvc_folder_commit(read_only_run, base):
    code, out, err = _result(read_only_run, "commit")
    db = base / ".pvc" / "pvc.db"
    assert (code, out) == (1, "")
    assert err == (f"error: cannot write to {db}: the database or its folder is read-only; "
                   "nothing was changed\nhint: check the permissions and mount of the .pvc "
                   "folder\n")


def test_read_only_pvc_folder_still_reads(read_only_run, pvc):
    assert _result(read_only_run, "show") == (0, "first\n", "")
    code, out, err = _result(read_only_run, "log")
    assert (code, err) == (0, "") and out.endswith(" first\n")


def test_read_only_pvc_folder_loses_nothing(read_only_run, base, pvc):
    code, _, err = _result(read_only_run, "commit")
    assert code == 1 and "Traceback" not in err
    assert pvc("status", "-s").stdout == " M a.md\n"  # the edit is still there to commit
    assert_intact(pvc, {"HEAD:a.md": b"first\n"})
    assert pvc("commit", "-m", "now writable").exit_code == 0
    assert_intact(pvc, {"HEAD:a.md": b"first\nedited\n", "HEAD~1:a.md": b"first\n"})


_WRITE_BIG = """
import os, random, string, sys
free = os.statvfs(".").f_bavail * os.statvfs(".").f_frsize
size = int(sys.argv[1]) if sys.argv[1] != "fill" else free
rnd = random.Random(7)
line = lambda: "".join(rnd.choice(string.ascii_letters) for _ in range(79)) + "\\n"
try:
    with open("big.md", "w") as fh:
        while size > 0:
            chunk = "".join(line() for _ in range(200))[:size]
            fh.write(chunk)
            size -= len(chunk)
except OSError:
    pass  # "fill": the disk is full now
"""


def _full_disk(base: Path, tmp_path: Path, size: str) -> tuple[Path, Path]:
    """Copy the repository into a 2 MB tmpfs, write big.md there (SIZE bytes, or "fill" the
    disk), then add, commit, fsck, show and status; free the space and check again.
    Returns (results folder, the copy's path)."""
    _namespace_or_skip(tmp_path)
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    _namespace(
        'SRC=$1; MNT=$2; OUT=$3; SIZE=$4; WRITE=$5\n'
        'mount -t tmpfs -o size=2m tmpfs "$MNT" || exit 3\n'
        'cp -a "$SRC/." "$MNT/" && cd "$MNT" || exit 5\n'
        '"$PY" -c "$WRITE" "$SIZE"; df -k . | tail -1 >"$OUT/df"\n'
        'run add add big.md\nrun commit commit -m big\nrun fsck fsck\n'
        'run show show HEAD:a.md\nrun status status -s\n'
        'rm -f big.md\n'  # free the space again
        'run fsck2 fsck\nrun show2 show HEAD:a.md\nrun status2 status -s\n',
        str(base), str(mnt), str(out), size, _WRITE_BIG)
    return out, mnt


@pytest.fixture
def disk_full_run(base, pvc, tmp_path):
    return _full_disk(base, tmp_path, "1300000")


def test_full_disk_commit_fails_cleanly(disk_full_run):
    """Today's message (pinned): the commit fails, says why, and changes nothing."""
    out, mnt = disk_full_run
    db = mnt / ".pvc" / "pvc.db"
    assert _result(out, "add") == (0, "add 'big.md'\n", "")
    assert _result(out, "commit") == (
        1, "", f"error: cannot write to {db}: the disk is full or failing (database or disk is "
               "full); nothing was changed\nhint: free some space and run the command again\n")
    fsck = _result(out, "fsck")
    assert fsck[0] == 0 and fsck[1].endswith(": no problems found\n"), fsck
    assert _result(out, "show") == (0, "first\n", "")
    assert _result(out, "status") == (0, "A  big.md\n", "")  # still added, ready to retry


@pytest.fixture
def disk_filled_run(base, pvc, tmp_path):
    return _full_disk(base, tmp_path, "fill")


def test_completely_full_disk_is_reported_clearly(disk_filled_run):
    """Today's message (pinned) when not one byte is free: every command that opens the
    database says so, without a traceback."""
    out, mnt = disk_filled_run
    message = (f"error: cannot write to {mnt / '.pvc' / 'pvc.db'}: the disk is full or failing "
               "(disk I/O error); nothing was changed\n"
               "hint: free some space and run the command again\n")
    assert _result(out, "add") == (1, "", message)
    assert _result(out, "commit") == (1, "", message)
    for name in ("fsck", "show", "status"):  # reads need the WAL index file too
        code, _, err = _result(out, name)
        assert code == 0 or (code, err) == (1, message), name


def test_completely_full_disk_loses_nothing(disk_filled_run):
    out, _ = disk_filled_run
    assert (out / "df").read_text().split()[3] == "0"  # the disk really was full
    assert _result(out, "commit")[0] == 1
    for name in ("add", "commit", "fsck", "show", "status"):
        assert "Traceback" not in _result(out, name)[2], name
    fsck = _result(out, "fsck2")  # once there is space again
    assert fsck[0] == 0 and fsck[1].endswith(": no problems found\n"), fsck
    assert _result(out, "show2") == (0, "first\n", "")
    assert _result(out, "status2") == (0, "", "")


# -- names with a trailing line feed --------------------------------------------------------------
def test_a_name_with_a_trailing_line_feed_is_refused_everywhere():
    """`$` in a Python regex also matches before a final "\\n": the name validators anchor with
    `\\Z`, so "origin\\n" (a config file, a primary's row) is not taken for "origin"."""
    from promptvc.errors import PvcError
    from promptvc.experiments import check_name
    from promptvc.remote import team
    from promptvc.remote.remotes import check_remote_name
    from promptvc.remote.sqld import validate_namespace

    for check in (check_remote_name, check_name, validate_namespace):
        assert check("ok-name") == "ok-name"
        with pytest.raises((PvcError, ValueError)):
            check("ok-name\n")
    good, problems = team.validate({"backend": "turso", "turso_org": "acme\n",
                                    "turso_group": "default"})
    assert good == {} and problems and "turso_org" in problems[0]
    good, problems = team.validate({"backend": "turso", "turso_org": "acme",
                                    "turso_group": "g\n", "db_prefix": "p\n"})
    assert good == {"backend": "turso", "turso_org": "acme"}  # the group falls back to default
    assert len(problems) == 2
