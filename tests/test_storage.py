"""Storage round trips: the delta codec, the version store (snapshots, diff chains and
their bounds) and the same through the CLI (`pvc commit` then `pvc show REV:PATH`).

Property tests run under a derandomised hypothesis profile (same examples on every run,
no example database written into the checkout)."""

from __future__ import annotations

import json
import os
import tempfile
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from promptvc.delta import apply_delta, make_delta, split_lines
from promptvc.objects import Policy, VersionStore, sha256
from promptvc.store import Store

AT = "2026-01-01T00:00:00+00:00"


def profile(max_examples: int) -> settings:
    return settings(
        derandomize=True,
        deadline=None,
        database=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- strategies --------------------------------------------------------------------------
LONG_A = b"L" * 10_001
LONG_B = b"L" * 5_000 + b"M" + b"L" * 5_000  # a long line that differs in its middle
UNICODE = "héllo wörld ✓ 日本語 🎉 – ﬁ".encode()

# pieces a line is built from: the diff syntax itself, unicode, long lines, odd bytes
PIECES = [
    b"", b"x", b"same", b"+", b"-", b" ", b"@@", b"\\", b"@@ -1,2 +1,3 @@", b"@@ -0,0 +1 @@",
    b"\\ No newline at end of file", b"--- a/p.md", b"+++ b/p.md", UNICODE, b"\t", b"\x00",
    b"\xff\xfe", LONG_A, LONG_B,
]
ENDINGS = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b""]

piece = st.one_of(
    st.sampled_from(PIECES),
    st.text(st.characters(codec="utf-8"), max_size=8).map(str.encode),
    st.binary(max_size=6),
)
line = st.builds(lambda parts, end: b"".join(parts) + end,
                 st.lists(piece, max_size=3), st.sampled_from(ENDINGS))


@st.composite
def text_pairs(draw) -> tuple[bytes, bytes]:
    """Two texts sharing many lines: B drawn from A's line pool, or A with a few edits."""
    pool = draw(st.lists(line, min_size=1, max_size=6))
    index = st.integers(0, len(pool) - 1)
    a = [pool[i] for i in draw(st.lists(index, max_size=30))]
    if draw(st.booleans()):
        b = [pool[i] for i in draw(st.lists(index, max_size=30))]
    else:
        b = list(a)
        for _ in range(draw(st.integers(0, 4))):
            pos = draw(st.integers(0, len(b)))
            op = draw(st.sampled_from(["insert", "delete", "replace"]))
            if op == "insert":
                b.insert(pos, draw(line))
            elif b and pos < len(b):
                if op == "delete":
                    del b[pos]
                else:
                    b[pos] = draw(line)
    return b"".join(a), b"".join(b)


# -- delta ------------------------------------------------------------------------------
ONE_MB = b"a" * 1_000_000


@profile(250)
@given(pair=text_pairs())
@example(pair=(b"", b""))
@example(pair=(b"", b"hello\nworld\n"))
@example(pair=(b"hello\nworld\n", b""))
@example(pair=(b"one\ntwo", b"one\ntwo\n"))  # trailing newline added
@example(pair=(b"one\ntwo\n", b"one\ntwo"))  # trailing newline removed
@example(pair=(b"one\ntwo", b"one\nthree"))  # no trailing newline on either side
@example(pair=(b"one\r\ntwo\r\n", b"one\r\ntwo changed\r\nthree\r\n"))  # CRLF
@example(pair=(b"one\r\ntwo\r\n", b"one\ntwo\n"))  # CRLF -> LF only
@example(pair=(b"a\rb\rc", b"a\rB\rc\r"))  # lone CR is not a line break
@example(pair=(b"+a\n-b\n c\n@@ -1 +1 @@\n\\ No newline at end of file\n",
               b"-a\n+b\n@@ -1 +1 @@\n c\n\\ No newline at end of file"))
@example(pair=("héllo\n日本\n".encode(), "héllo\n日本語 🎉\n".encode()))
@example(pair=(b"", ONE_MB))
@example(pair=(ONE_MB, ONE_MB[:-1] + b"b"))  # a 1 MB single line, changed at its end
@example(pair=(ONE_MB + b"\n", b"x\n" + ONE_MB))
@example(pair=(b"".join(b"line %d\n" % i for i in range(40)),
               b"".join(b"line %d\n" % i for i in range(40) if i not in (5, 30))))  # 2 hunks
def test_delta_round_trip(pair):
    a, b = pair
    diff, ins, dels = make_delta(a, b)
    assert apply_delta(a, diff) == b
    # the counts are the change in line count, and an unchanged text has an empty diff
    assert ins - dels == len(split_lines(b)) - len(split_lines(a))
    if a == b:
        assert (diff, ins, dels) == (b"", 0, 0)


def test_delta_marks_a_missing_final_newline():
    """The stored delta uses the standard marker (whatever its amount of context)."""
    diff, ins, dels = make_delta(b"a\nb\n", b"a\nc")
    assert diff.startswith(b"@@ -")
    assert diff.endswith(b"\n-b\n+c\n\\ No newline at end of file\n")
    assert (ins, dels) == (1, 1)
    diff, _, _ = make_delta(b"a\nc", b"a\nb\n")
    assert diff.endswith(b"\n-c\n\\ No newline at end of file\n+b\n")


# -- version store ------------------------------------------------------------------------
# longer lines so that a small edit of a long file is stored as a diff
store_line = st.builds(
    lambda n, body, end: b"line %d " % n + body + end,
    st.integers(0, 50),
    st.one_of(st.text(st.characters(codec="utf-8"), max_size=20).map(str.encode),
              st.sampled_from([b"", b"+plus", b"-minus", b"@@ hunk", b"\\ back", UNICODE,
                               b"x" * 60, LONG_A])),
    st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"]),
)


@st.composite
def histories(draw) -> list[bytes]:
    """Successive contents of one file: edits of the previous one, reverts, no-ops."""
    lines = draw(st.lists(store_line, max_size=40)) if draw(st.booleans()) else \
        draw(st.lists(store_line, min_size=15, max_size=40))
    seen = [list(lines)]
    for _ in range(draw(st.integers(1, 20))):
        op = draw(st.sampled_from(["insert", "delete", "replace"] * 4
                                  + ["revert", "same", "strip_newline", "burst"]))
        if op == "revert":
            lines = list(seen[draw(st.integers(0, len(seen) - 1))])
        elif op == "strip_newline" and lines:
            lines[-1] = lines[-1].rstrip(b"\r\n")
        elif op == "burst":  # a large rewrite
            lines = draw(st.lists(store_line, max_size=40))
        elif op != "same":
            pos = draw(st.integers(0, len(lines)))
            if op == "insert":
                lines.insert(pos, draw(store_line))
            elif lines and pos < len(lines):
                if op == "delete":
                    del lines[pos]
                else:
                    lines[pos] = draw(store_line)
        seen.append(list(lines))
    return [b"".join(v) for v in seen]


@pytest.mark.parametrize("max_chain_ratio", [0.5, 2.0])
@pytest.mark.parametrize("max_chain_len", [1, 3, 100])
@profile(50)
@given(history=histories())
@example(history=[b"", b"", b"x", b""])
@example(history=[b"a\n" * 50, b"a\n" * 50 + b"b", b"a\n" * 50, b"a\n" * 49 + b"b\n"])
@example(history=[b"line %d\r\n" % i * 30 for i in range(1, 8)])
def test_version_store_round_trip(max_chain_len, max_chain_ratio, history):
    policy = Policy(max_chain_len=max_chain_len, max_chain_ratio=max_chain_ratio)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "pvc.db"))
        try:
            store.migrate()
            writer = VersionStore(store, policy)
            ids: list[str] = []
            parent = None
            with store.transaction():
                for content in history:
                    vid, _, _ = writer.put(content, kind="prompt", parent=parent, path="p.md", at=AT)
                    assert vid == sha256(content)
                    ids.append(vid)
                    parent = vid

            # every version back, byte for byte, rebuilt from its chain with no cache at all...
            for vid, content in zip(ids, history):
                assert VersionStore(store, policy, cache_size=0).get(vid) == content
            # ...and with a fresh cache, newest first (later reads resume from cached texts)
            reader = VersionStore(store, policy)
            for vid, content in reversed(list(zip(ids, history))):
                assert reader.get(vid) == content

            rows = {r.id: r for r in store.iter_versions()}
            assert len(rows) == len(set(history))  # identical content is stored once
            by_id = dict(zip(ids, history))
            for r in rows.values():
                data = zlib.decompress(r.data) if r.codec == "zlib" else bytes(r.data)
                if r.codec == "zlib":
                    assert len(r.data) < len(data)
                assert r.size == len(by_id[r.id])
                assert r.chain_len <= max_chain_len
                assert len(store.version_chain(r.id)) == r.chain_len + 1
                if r.storage == "snapshot":
                    assert (r.chain_len, r.chain_bytes, data) == (0, 0, by_id[r.id])
                else:
                    base = rows[r.parent_version_id]
                    assert len(data) < r.size  # a diff is stored only when smaller
                    assert r.chain_len == base.chain_len + 1
                    assert r.chain_bytes == base.chain_bytes + len(data)
                    assert r.chain_bytes <= max_chain_ratio * r.size
                    assert apply_delta(by_id[base.id], data) == by_id[r.id]
        finally:
            store.close()


def test_version_store_uses_both_snapshots_and_diffs(tmp_path):
    """The bounds above are not vacuous: a long edited file gets diffs, and the chain limit
    forces a snapshot every max_chain_len + 1 versions."""
    store = Store(str(tmp_path / "pvc.db"))
    store.migrate()
    vs = VersionStore(store, Policy(max_chain_len=3))
    base = [b"line %d of a long enough prompt\n" % i for i in range(30)]
    parent = None
    with store.transaction():
        for i in range(9):
            lines = list(base)
            lines[i] = b"edited %d\n" % i
            parent, _, _ = vs.put(b"".join(lines), kind="prompt", parent=parent, path="p.md", at=AT)
    chain = [(r.storage, r.chain_len) for r in store.versions_of_path("p.md")]
    assert chain == [("snapshot", 0), ("diff", 1), ("diff", 2), ("diff", 3),
                     ("snapshot", 0), ("diff", 1), ("diff", 2), ("diff", 3), ("snapshot", 0)]
    store.close()


# -- through the CLI -------------------------------------------------------------------------
CLI_CONTENTS = [
    b"",
    b"first line\nno trailing newline",
    "unicode: héllo ✓ 日本語 🎉\nsecond\n".encode(),
    b"crlf one\r\ncrlf two\r\ncrlf three\r\n",
    b"crlf one\r\ncrlf 2\r\ncrlf three\r\nlone\rcr\r",
    b"+plus\n-minus\n space\n@@ -1 +1 @@\n\\ No newline at end of file\n",
    b"".join(b"line %d of a longer prompt\n" % i for i in range(40)),
    b"".join(b"line %d of a longer prompt\n" % i for i in range(40) if i != 17),
    b"L" * 20_000 + b"\n",
    b"L" * 10_000 + b"M" + b"L" * 10_000 + b"\n",
    b"L" * 10_000 + b"M" + b"L" * 10_000,  # long line, no trailing newline
    b"first line\nno trailing newline",  # a revert to an earlier version
    b"",
    b"\n",
]


@pytest.mark.parametrize("max_chain_length", [1, 100])
def test_cli_commit_then_show_round_trip(repo, pvc, max_chain_length):
    (repo / ".pvc" / "config").write_text(f"[core]\nmax_chain_length = {max_chain_length}\n")
    path = repo / "p.md"
    commits = []
    for i, content in enumerate(CLI_CONTENTS):
        # (consecutive contents differ in size, so the stat cache cannot hide an edit)
        assert i == 0 or len(content) != len(CLI_CONTENTS[i - 1])
        path.write_bytes(content)
        if i == 0:
            assert pvc("add", "p.md").exit_code == 0
        r = pvc("commit", "-m", f"version {i}", "--json")
        assert r.exit_code == 0, r.output
        commits.append(json.loads(r.stdout)["id"])
    for i, (cid, content) in enumerate(zip(commits, CLI_CONTENTS)):
        r = pvc("show", f"{cid}:p.md")
        assert (r.exit_code, r.stdout_bytes, r.stderr_bytes) == (0, content, b""), i
    assert pvc("show", "HEAD~2:p.md").stdout_bytes == CLI_CONTENTS[-3]
    assert pvc("fsck").exit_code == 0


def test_same_size_edit_in_same_mtime_tick_is_committed(repo, pvc):
    path = repo / "p.md"
    path.write_bytes(b"aaaa\n")
    assert pvc("add", "p.md").exit_code == 0
    assert pvc("commit", "-m", "one").exit_code == 0
    st = os.stat(path)
    path.write_bytes(b"bbbb\n")
    # on a file system with coarse timestamps the edit lands in the same tick as the commit
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = pvc("commit", "-m", "two")
    assert r.exit_code == 0, r.output
    assert pvc("show", "HEAD:p.md").stdout_bytes == b"bbbb\n"
