"""Corruption tests: damage one stored value on purpose (in the real database file), then
check that `pvc fsck` names the damaged object, reports every problem in one run, and that
reading the damaged content fails loudly instead of printing wrong bytes."""

from __future__ import annotations

import json
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptvc.delta import parse_hunks
from promptvc.objects import sha256
from promptvc.repo import Repo
from promptvc.store import Store, VersionRow
from tests.conftest import invoke

AUTHOR = "Test User <test@example.com>"
FILES = ("long.md", "short.md", "tiny.md")
N_COMMITS = 30
HINT = "hint: the damaged objects are named above; restore them from a clone or backup\n"


# -- the repository every test damages a copy of ----------------------------------------------
def _long(k: int, edits: dict[int, int]) -> bytes:
    """40 long, repetitive lines: its diffs are long enough to be zlib-compressed."""
    out = []
    for i in range(40):
        rev = f" (revision {edits[i]})" if i in edits else ""
        out.append(f"{i:02d} You are a helpful assistant{rev}. Answer the user's question "
                   f"politely and cite your sources.\n")
    return "".join(out).encode()


def _short(edits: dict[int, int]) -> bytes:
    """30 short lines: its diffs are under 64 bytes, so stored raw."""
    return "".join(f"k{edits[i]:02d}\n" if i in edits else f"a{i:02d}\n"
                   for i in range(30)).encode()


@dataclass
class Template:
    root: Path
    commits: list[str]  # oldest first
    trees: list[dict[str, str]]  # path -> version id, per commit
    tree_ids: list[str]
    contents: dict[str, bytes]  # version id -> content
    versions: int
    refs: int


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    """30 commits of edits to 3 files with core.max_chain_length = 5, and a tag."""
    root = tmp_path_factory.mktemp("fsck-template") / "work"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:  # the function-scoped clean_env, by hand
        for key in list(os.environ):
            if key.startswith(("PVC_", "XDG_", "GIT_", "TURSO_")):
                mp.delenv(key)
        home = tmp_path_factory.mktemp("home")
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("PVC_AUTHOR", AUTHOR)
        mp.setenv("RUST_LOG", "off")
        mp.chdir(root)
        assert invoke("init").exit_code == 0
        (root / ".pvc" / "config").write_text("[core]\nmax_chain_length = 5\n")
        long_edits: dict[int, int] = {}
        short_edits: dict[int, int] = {}
        commits = []
        for k in range(N_COMMITS):
            touched = {"tiny.md"} if k % 3 == 0 else set()
            if k % 2 == 0:
                touched.add("short.md")
            if k % 5 != 4 or not touched:
                touched.add("long.md")
            if k == 0:
                touched = set(FILES)
            if "long.md" in touched and k:
                long_edits[(k * 7) % 40] = k
            if "short.md" in touched and k:
                short_edits[(k * 11) % 30] = k
            (root / "long.md").write_bytes(_long(k, long_edits))
            (root / "short.md").write_bytes(_short(short_edits))
            if "tiny.md" in touched:
                (root / "tiny.md").write_bytes(f"tiny {k}\n".encode())
            if k == 0:
                assert invoke("add", *FILES).exit_code == 0
            r = invoke("commit", "-m", f"edit {k}: {', '.join(sorted(touched))}",
                       "--date", f"2026-01-01T00:{k:02d}:00+00:00", "--json")
            assert r.exit_code == 0, r.output
            commits.append(json.loads(r.stdout)["id"])
            if k == 12:
                assert invoke("tag", "v1").exit_code == 0
        repo = Repo.open(root)
        try:
            trees = [repo.tree(c) for c in commits]
            tree_ids = [repo.commit_row(c).tree_id for c in commits]
            contents = {vid: repo.read_version(vid) for t in trees for vid in t.values()}
            versions = sum(1 for _ in repo.store.iter_versions())
            refs = len(repo.store.all_refs())
        finally:
            repo.close()
    t = Template(root, commits, trees, tree_ids, contents, versions, refs)
    # the repository has every kind of row the tests below damage
    kinds = {(r.path, r.storage, r.codec) for r in rows_of(root)}
    assert {("tiny.md", "snapshot", "raw"), ("long.md", "snapshot", "zlib"),
            ("short.md", "diff", "raw"), ("long.md", "diff", "zlib")} <= kinds
    return t


@pytest.fixture
def work(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the template repository, made the current directory."""
    dest = tmp_path / "work"
    shutil.copytree(template.root, dest)
    monkeypatch.chdir(dest)
    return dest


# -- helpers ----------------------------------------------------------------------------------
def open_store(root: Path) -> Store:
    return Store(str(root / ".pvc" / "pvc.db"))


def rows_of(root: Path) -> list[VersionRow]:
    store = open_store(root)
    try:
        return list(store.iter_versions())
    finally:
        store.close()


def raw_update(root: Path, table: str, column: str, key_col: str, key: str, value) -> None:
    store = open_store(root)
    try:
        store.raw_update(table, column, key_col, key, value)
    finally:
        store.close()


def get_commit(root: Path, cid: str):
    store = open_store(root)
    try:
        return store.get_commit(cid)
    finally:
        store.close()


def get_ref(root: Path, name: str) -> str | None:
    store = open_store(root)
    try:
        return store.get_ref(name)
    finally:
        store.close()


def flip_byte(data: bytes, i: int) -> bytes:
    out = bytearray(data)
    out[i] ^= 0x01
    return bytes(out)


def flip_char(text: str, i: int) -> str:
    """TEXT with its I-th character changed (a hex digit stays a hex digit)."""
    c = text[i]
    if c in string.hexdigits:
        new = "0" if c != "0" else "1"
    else:
        new = chr(ord(c) ^ 0x01)
    assert new != c
    return text[:i] + new + text[i + 1:]


def damage_data(root: Path, row: VersionRow, i: int | None = None) -> None:
    data = bytes(row.data)
    raw_update(root, "versions", "data", "id", row.id,
               flip_byte(data, len(data) // 2 if i is None else i))


def descendants(rows: list[VersionRow], vid: str) -> dict[str, str]:
    """Diff rows whose chain passes through VID: id -> its direct diff base."""
    by_id = {r.id: r for r in rows}
    out = {}
    for r in rows:
        cur = r
        while cur.storage == "diff" and cur.parent_version_id in by_id:
            cur = by_id[cur.parent_version_id]
            if cur.id == vid:
                out[r.id] = r.parent_version_id
                break
    return out


def commit_with(t: Template, vid: str) -> str:
    """The first commit whose tree holds version VID."""
    return next(c for c, tree in zip(t.commits, t.trees) if vid in tree.values())


def fsck() -> tuple[int, list[str], str]:
    r = invoke("fsck")
    return r.exit_code, r.stdout.splitlines(), r.stderr


def summary(t: Template, problems: int) -> str:
    noun = "problem" if problems == 1 else "problems"
    return (f"checked {t.versions} versions (file contents and trees), {N_COMMITS} commits, {t.refs} refs: "
            f"{problems} {noun} found\n" + HINT)


def unreadable(rows, vid: str, path: str) -> set[str]:
    return {f"error: version {d[:12]} ({path}): unreadable: its diff base {base[:12]} is damaged"
            for d, base in descendants(rows, vid).items()}


def assert_read_fails(t: Template, vid: str, path: str) -> None:
    """`pvc show REV:PATH` of VID fails as damaged and prints none of the content."""
    r = invoke("show", f"{commit_with(t, vid)}:{path}")
    assert r.exit_code == 1
    assert r.stdout_bytes == b""
    assert "damaged" in r.stderr and r.stderr.startswith("error: version "), r.stderr
    assert r.stderr.endswith("hint: run `pvc fsck` for a full report\n")


def pick(rows, path: str, storage: str, codec: str, with_descendants: bool = False) -> VersionRow:
    found = [r for r in rows if (r.path, r.storage, r.codec) == (path, storage, codec)
             and (not with_descendants or descendants(rows, r.id))]
    assert found, (path, storage, codec)
    return sorted(found, key=lambda r: r.id)[len(found) // 2]


# -- a healthy repository ------------------------------------------------------------------------
def test_fsck_clean_repository(template, work):
    r = invoke("fsck")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == (f"checked {template.versions} versions (file contents and trees), {N_COMMITS} commits, "
                        f"{template.refs} refs: no problems found\n")
    stored = {(r.storage, r.chain_len <= 5) for r in rows_of(work)}
    assert stored == {("snapshot", True), ("diff", True)}


def test_fsck_clean_repository_json(template, work):
    r = invoke("fsck", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"ok": True, "versions": template.versions,
                                    "commits": N_COMMITS, "refs": template.refs, "problems": []}


# -- damaged version data ------------------------------------------------------------------------
def test_raw_snapshot_flipped_byte(template, work):
    rows = rows_of(work)
    row = pick(rows, "tiny.md", "snapshot", "raw")
    assert not descendants(rows, row.id)
    damage_data(work, row, 0)
    code, lines, err = fsck()
    assert code == 1
    assert lines == [f"error: version {row.id[:12]} (tiny.md): content does not match its SHA-256"]
    assert err == summary(template, 1)
    r = invoke("show", f"{commit_with(template, row.id)}:tiny.md")
    assert (r.exit_code, r.stdout_bytes) == (1, b"")
    assert r.stderr == (f"error: version {row.id[:12]} (tiny.md) is damaged: its content does "
                        "not match its SHA-256\nhint: run `pvc fsck` for a full report\n")


def test_raw_diff_flipped_byte_in_an_added_line(template, work):
    rows = rows_of(work)
    row = pick(rows, "short.md", "diff", "raw", with_descendants=True)
    data = bytes(row.data)
    at = data.index(b"\n+") + 2  # first character of the first added line
    damage_data(work, row, at)
    code, lines, err = fsck()
    expected = {f"error: version {row.id[:12]} (short.md): content does not match its SHA-256"}
    expected |= unreadable(rows, row.id, "short.md")
    assert code == 1
    assert sorted(lines) == sorted(expected)
    assert err == summary(template, len(expected))
    assert_read_fails(template, row.id, "short.md")
    for d in descendants(rows, row.id):  # every version whose chain passes through it
        assert_read_fails(template, d, "short.md")


def test_raw_diff_flipped_hunk_header(template, work):
    rows = rows_of(work)
    row = pick(rows, "short.md", "diff", "raw", with_descendants=True)
    assert bytes(row.data).startswith(b"@@ -")
    damage_data(work, row, 3)  # "@@ -N" -> "@@ ,N": not a hunk header any more
    code, lines, err = fsck()
    assert code == 1
    assert (f"error: version {row.id[:12]} (short.md): diff does not apply: bad hunk header at "
            "diff line 1") in lines
    assert set(lines) - unreadable(rows, row.id, "short.md") == {
        f"error: version {row.id[:12]} (short.md): diff does not apply: bad hunk header at "
        "diff line 1"}
    assert_read_fails(template, row.id, "short.md")


def test_raw_diff_flipped_byte_in_a_removed_line(template, work):
    rows = rows_of(work)
    row = pick(rows, "short.md", "diff", "raw", with_descendants=True)
    data = bytes(row.data)
    at = data.index(b"\n-") + 2  # first character of the first removed line
    hunk = next(h for h in parse_hunks(data) if any(x[:1] == b"-" for x in h.lines))
    line_no = hunk.old_start + 1 + next(
        i for i, x in enumerate(y for y in hunk.lines if y[:1] != b"+") if x[:1] == b"-")
    damage_data(work, row, at)
    code, lines, err = fsck()
    expected = {f"error: version {row.id[:12]} (short.md): diff does not apply: diff does not "
                f"match the text at line {line_no}"}
    expected |= unreadable(rows, row.id, "short.md")
    assert code == 1
    assert sorted(lines) == sorted(expected)
    assert err == summary(template, len(expected))
    r = invoke("show", f"{commit_with(template, row.id)}:short.md")
    assert (r.exit_code, r.stdout_bytes) == (1, b"")
    assert r.stderr == (f"error: version {row.id[:12]} (short.md) is damaged: its diff does not "
                        f"apply (diff does not match the text at line {line_no})\n"
                        "hint: run `pvc fsck` for a full report\n")


@pytest.mark.parametrize("path,storage", [("long.md", "snapshot"), ("long.md", "diff")])
def test_zlib_row_flipped_byte(template, work, path, storage):
    rows = rows_of(work)
    row = pick(rows, path, storage, "zlib", with_descendants=True)
    damage_data(work, row)
    code, lines, err = fsck()
    expected = {f"error: version {row.id[:12]} ({path}): stored data does not decompress"}
    expected |= unreadable(rows, row.id, path)
    assert code == 1
    assert sorted(lines) == sorted(expected)
    assert err == summary(template, len(expected))
    assert_read_fails(template, row.id, path)
    for d in descendants(rows, row.id):
        assert_read_fails(template, d, path)


def test_tree_row_flipped_byte(template, work):
    k = 15
    tree_id, cid, child = template.tree_ids[k], template.commits[k], template.commits[k + 1]
    rows = rows_of(work)
    row = next(r for r in rows if r.id == tree_id)
    assert row.kind == "tree"
    damage_data(work, row)
    code, lines, err = fsck()
    assert code == 1
    message = ("stored data does not decompress" if row.codec == "zlib"
               else "content does not match its SHA-256")
    required = {f"error: version {tree_id[:12]} (tree): {message}",
                f"error: tree {tree_id[:12]}: tree of commit {cid[:12]} is missing or damaged"}
    required |= unreadable(rows, tree_id, "tree")
    assert required <= set(lines)
    # the child's change index is checked against the (unreadable) parent tree: tolerated
    assert set(lines) - required <= {
        f"error: commit {child[:12]}: its change index does not match its tree"}
    assert err == summary(template, len(lines))
    for path in FILES:  # every file of that commit is unreadable, none prints wrong bytes
        r = invoke("show", f"{cid}:{path}")
        assert (r.exit_code, r.stdout_bytes) == (1, b"")
        assert r.stderr.startswith(f"error: version {tree_id[:12]} (tree) is damaged: ")


# -- damaged commits -----------------------------------------------------------------------------
ID_CHANGED = "id does not match its content (tree, parents, author, date or message was changed)"


@pytest.mark.parametrize("column,k,i", [("message", 10, 5), ("author", 20, 0)])
def test_commit_text_flipped_character(template, work, column, k, i):
    cid = template.commits[k]
    row = get_commit(work, cid)
    raw_update(work, "commits", column, "id", cid, flip_char(getattr(row, column), i))
    code, lines, err = fsck()
    assert code == 1
    assert lines == [f"error: commit {cid[:12]}: {ID_CHANGED}"]
    assert err == summary(template, 1)


def test_commit_tree_id_flipped_character(template, work):
    k = 7
    cid, child = template.commits[k], template.commits[k + 1]
    bogus = flip_char(template.tree_ids[k], 10)
    raw_update(work, "commits", "tree_id", "id", cid, bogus)
    code, lines, err = fsck()
    assert code == 1
    required = {f"error: commit {cid[:12]}: {ID_CHANGED}",
                f"error: tree {bogus[:12]}: tree of commit {cid[:12]} is missing or damaged"}
    assert required <= set(lines)
    assert set(lines) - required <= {
        f"error: commit {child[:12]}: its change index does not match its tree"}
    assert err == summary(template, len(lines))
    r = invoke("show", f"{cid}:tiny.md")
    assert (r.exit_code, r.stdout_bytes) == (1, b"")
    assert r.stderr.startswith(f"error: version {bogus[:12]} is missing from the repository")


# -- damaged refs and bookkeeping ------------------------------------------------------------------
@pytest.mark.parametrize("ref,rev", [("refs/tags/v1", "v1"), ("refs/heads/main", "HEAD")])
def test_ref_target_flipped_character(template, work, ref, rev):
    target = get_ref(work, ref)
    bogus = flip_char(target, 3)
    raw_update(work, "refs", "target", "name", ref, bogus)
    code, lines, err = fsck()
    assert code == 1
    assert lines == [
        f"error: ref {bogus[:12]} ({ref}): points at a missing commit",
        f"error: ref {bogus[:12]} ({ref}): does not match its last recorded move "
        f"(to {target[:12]})",
    ]
    assert err == summary(template, 2)
    r = invoke("show", f"{rev}:tiny.md")
    assert (r.exit_code, r.stdout_bytes) == (1, b"")
    assert r.stderr == (f"error: commit {bogus[:8]} is missing from the repository\n"
                        "hint: run `pvc fsck`\n")


def test_diff_chain_len_flipped(template, work):
    rows = rows_of(work)
    row = pick(rows, "long.md", "diff", "zlib")
    wrong = row.chain_len ^ 1
    raw_update(work, "versions", "chain_len", "id", row.id, wrong)
    code, lines, err = fsck()
    assert code == 1
    assert lines == [
        f"error: version {row.id[:12]} (long.md): chain bookkeeping is wrong: stored length "
        f"{wrong} / bytes {row.chain_bytes}, actual {row.chain_len} / {row.chain_bytes}"]
    assert err == summary(template, 1)
    # bookkeeping only: the content itself still reads back intact
    r = invoke("show", f"{commit_with(template, row.id)}:long.md")
    assert (r.exit_code, r.stdout_bytes) == (0, template.contents[row.id])


def test_snapshot_chain_len_flipped(template, work):
    rows = rows_of(work)
    row = pick(rows, "tiny.md", "snapshot", "raw")
    raw_update(work, "versions", "chain_len", "id", row.id, row.chain_len ^ 1)
    code, lines, err = fsck()
    assert code == 1
    assert lines == [f"error: version {row.id[:12]} (tiny.md): snapshot with a non-zero chain "
                     "length or size"]
    assert err == summary(template, 1)


# -- several problems, one run ------------------------------------------------------------------
def test_two_corruptions_are_both_reported(template, work):
    rows = rows_of(work)
    snap = pick(rows, "tiny.md", "snapshot", "raw")
    damage_data(work, snap, 0)
    cid = template.commits[20]
    author = get_commit(work, cid).author
    raw_update(work, "commits", "author", "id", cid, flip_char(author, 0))
    code, lines, err = fsck()
    assert code == 1
    assert lines == [
        f"error: version {snap.id[:12]} (tiny.md): content does not match its SHA-256",
        f"error: commit {cid[:12]}: {ID_CHANGED}",
    ]
    assert err == summary(template, 2)


def test_fsck_json_reports_every_problem(template, work):
    rows = rows_of(work)
    snap = pick(rows, "tiny.md", "snapshot", "raw")
    damage_data(work, snap, 0)
    cid = template.commits[10]
    message = get_commit(work, cid).message
    raw_update(work, "commits", "message", "id", cid, flip_char(message, 0))
    r = invoke("fsck", "--json")
    assert (r.exit_code, r.stderr) == (1, "")
    assert json.loads(r.stdout) == {
        "ok": False, "versions": template.versions, "commits": N_COMMITS, "refs": template.refs,
        "problems": [
            {"kind": "version", "object": snap.id, "path": "tiny.md",
             "message": "content does not match its SHA-256"},
            {"kind": "commit", "object": cid, "path": None, "message": ID_CHANGED},
        ],
    }


def test_template_contents_are_what_the_files_held(template):
    """Guard for the helpers above: the recorded contents are keyed by their SHA-256."""
    assert all(sha256(c) == vid for vid, c in template.contents.items())
