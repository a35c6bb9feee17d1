"""Fuzz tests: the parsers and resolvers that read untrusted input never crash.

Every property runs under a derandomised hypothesis profile (the same examples on every
run, no example database written into the checkout). The rule each one checks: the only
exceptions that escape are the documented ones (``DeltaError`` from the delta codec,
``PvcError`` subclasses from the repository, ``RefError`` from ref-name checks), never an
``IndexError``, a plain ``ValueError`` or a ``RecursionError``.

The crashes these tests found (two no-newline markers in a row, header numbers past
Python's int-parsing limit, huge ``~N`` counts, non-UTF-8 names) are fixed; the tests at the
end of each section pin them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from promptvc.delta import DeltaError, apply_chain, apply_delta, make_delta, parse_hunks
from promptvc.errors import PvcError, RefError, UnknownRevision
from promptvc.textmerge import has_conflict_markers, merge_texts
from promptvc.refs import check_ref_name, ref_name_problem

AUTHOR = "Fuzz Tester <fuzz@example.com>"


def profile(max_examples: int) -> settings:
    return settings(
        derandomize=True,
        deadline=None,
        database=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    )


# -- strategies ----------------------------------------------------------------------------
LONG = b"L" * 20_000
PIECES = [
    b"", b"x", b"same", b"+", b"-", b" ", b"@@", b"\\", b"@@ -1,2 +1,3 @@", b"@@ -0,0 +1 @@",
    b"\\ No newline at end of file", b"--- a/p.md", b"+++ b/p.md", "héllo ✓ 日本".encode(),
    b"\t", b"\x00", b"\xff\xfe", b"\r", b"<<<<<<< HEAD", b"=======", b">>>>>>> theirs", LONG,
]
ENDINGS = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b""]

piece = st.one_of(st.sampled_from(PIECES), st.binary(max_size=6))
line = st.builds(lambda parts, end: b"".join(parts) + end,
                 st.lists(piece, max_size=3), st.sampled_from(ENDINGS))


@st.composite
def related_texts(draw, n: int = 2) -> list[bytes]:
    """N texts built from one pool of lines, each an edit of the first: diffs between
    them have context, insertions, deletions and replacements."""
    pool = draw(st.lists(line, min_size=1, max_size=6))
    index = st.integers(0, len(pool) - 1)
    first = [pool[i] for i in draw(st.lists(index, max_size=20))]
    out = [b"".join(first)]
    for _ in range(n - 1):
        cur = list(first)
        for _ in range(draw(st.integers(0, 4))):
            pos = draw(st.integers(0, len(cur)))
            op = draw(st.sampled_from(["insert", "delete", "replace", "pool"]))
            if op == "insert":
                cur.insert(pos, draw(line))
            elif op == "pool":
                cur.insert(pos, pool[draw(index)])
            elif cur and pos < len(cur):
                if op == "delete":
                    del cur[pos]
                else:
                    cur[pos] = draw(line)
        out.append(b"".join(cur))
    return out


# lines of a diff: hunk headers with odd numbers, tagged lines, markers, junk
NUMBER = st.one_of(st.integers(0, 8), st.sampled_from([10**6, 2**31, 2**63]))
COUNT = st.one_of(st.just(b""), NUMBER.map(lambda n: b",%d" % n))
HEADER = st.builds(lambda a, b, c, d, tail: b"@@ -%d%s +%d%s @@%s" % (a, b, c, d, tail),
                   NUMBER, COUNT, NUMBER, COUNT, st.sampled_from([b"", b" ctx", b"@@"]))
DIFF_LINE = st.one_of(
    HEADER,
    st.builds(lambda tag, body: tag + body,
              st.sampled_from([b" ", b"-", b"+", b"\\", b"", b"@", b"x", b"\r"]),
              st.sampled_from([b"", b"a", b"b", b"a\r", b" No newline at end of file", b"\x00",
                               b"\xff"])),
    st.binary(max_size=10),
)
diff_like = st.lists(DIFF_LINE, max_size=14).map(lambda ls: b"\n".join(ls) + b"\n")

MARKERS = [b"\\ No newline at end of file", b"\\"]


@st.composite
def hunk_diffs(draw) -> tuple[bytes, bytes]:
    """Well-formed-looking hunks (header counts match their bodies) and a text they fit,
    with no-newline markers after any line, sometimes several in a row."""
    out: list[bytes] = []
    old_text: list[bytes] = []
    for _ in range(draw(st.integers(1, 3))):
        old_text.extend([b"f\n"] * draw(st.integers(0, 2)))
        body = draw(st.lists(st.tuples(st.sampled_from([b" ", b"-", b"+"]),
                                       st.sampled_from([b"", b"a", b"b", b"a\r", b"\x00"])),
                             max_size=5))
        old = sum(tag != b"+" for tag, _ in body)
        new = sum(tag != b"-" for tag, _ in body)
        start = len(old_text)
        out.append(b"@@ -%d,%d +%d,%d @@" % (start + (old > 0), old, start + (new > 0), new))
        for tag, text in body:
            out.append(tag + text)
            if tag != b"+":
                old_text.append(text + b"\n")
            out.extend(draw(st.lists(st.sampled_from(MARKERS), max_size=3)))
    if draw(st.booleans()):
        old_text.append(b"f\n")
    return b"\n".join(out) + b"\n", b"".join(old_text)


MUTATION_LINES = [b"\\", b"\\ No newline at end of file", b"@@ -1 +1 @@", b"@@ -0,0 +0,0 @@",
                  b"@@ -1,0 +1,0 @@", b"", b"+", b"-", b" ", b"@@ -99999 +1 @@", b"@@ -1,2"]


@st.composite
def mutated(draw, diff: bytes) -> bytes:
    """DIFF with a few byte- or line-level mutations."""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "dup_line", "drop_line",
                                     "swap_lines", "add_line", "markers", "renumber"]))
        if kind in ("flip", "insert", "delete"):
            i = draw(st.integers(0, len(diff)))
            if kind == "flip" and i < len(diff):
                diff = diff[:i] + bytes([diff[i] ^ draw(st.integers(1, 255))]) + diff[i + 1:]
            elif kind == "insert":
                diff = diff[:i] + draw(st.binary(min_size=1, max_size=4)) + diff[i:]
            elif kind == "delete":
                diff = diff[:i] + diff[i + draw(st.integers(1, 8)):]
            continue
        lines = diff.split(b"\n")
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "dup_line" and lines:
            lines.insert(i, lines[i])
        elif kind == "drop_line" and len(lines) > 1:
            del lines[i]
        elif kind == "swap_lines" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "add_line":
            lines.insert(i, draw(st.sampled_from(MUTATION_LINES)))
        elif kind == "markers":
            lines[i + 1:i + 1] = draw(st.lists(st.sampled_from(MARKERS), min_size=1, max_size=3))
        elif kind == "renumber":
            numbers = list(re.finditer(rb"\d+", diff))
            if numbers:
                m = numbers[draw(st.integers(0, len(numbers) - 1))]
                new = b"%d" % draw(st.one_of(st.integers(0, 12), st.integers(0, 10**12)))
                diff = diff[:m.start()] + new + diff[m.end():]
                continue
        diff = b"\n".join(lines)
    return diff


def _only_delta_errors(fn, diff: bytes, *args):
    """Call FN; return its result, or None when it raised DeltaError."""
    try:
        return fn(*args)
    except DeltaError:
        return None
    except Exception as exc:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"{fn.__name__} raised {type(exc).__name__}: {exc} "
                             f"for diff {diff!r}") from exc


# -- delta: parse_hunks / apply_delta / apply_chain -----------------------------------------
@profile(1000)
@given(diff=st.one_of(st.binary(max_size=300), diff_like,
                      st.binary(max_size=200).map(lambda b: b"@@ -1 +1 @@\n" + b)),
       old=st.one_of(st.binary(max_size=60), related_texts(1).map(lambda t: t[0]),
                     st.lists(st.sampled_from([b"a\n", b"b\n", b"a\r\n", b"a", b"\n"]),
                              max_size=5).map(b"".join)))
@example(diff=b"", old=b"")
@example(diff=b"@@", old=b"")
@example(diff=b"@@ -1 +1 @@\n", old=b"x\n")
@example(diff=b"\\ No newline at end of file\n", old=b"")
@example(diff=b"@@ -0,0 +1 @@\n\\ No newline at end of file\n", old=b"")
@example(diff=b"@@ -1,0 +1,0 @@\n", old=b"")
@example(diff=b"@@ -2 +2 @@\n-x\n+y\n@@ -1 +1 @@\n-a\n+b\n", old=b"a\nx\n")  # hunks out of order
@example(diff=b"@@ -1 +1 @@\n-a\n+b\n@@ -1 +1 @@\n-a\n+b\n", old=b"a\n")  # overlapping hunks
@example(diff=b"@@ -1,2 +1,2 @@\n a\n\n", old=b"a\n\n")  # context line without its space
@example(diff=b"@@ -1 +1 @@\n-a\r\n+b\r\n", old=b"a\r\n")
@example(diff=b"@@ -%d +1 @@\n-a\n" % 2**63, old=b"a\n")
def test_parse_and_apply_arbitrary_diffs(diff, old):
    hunks = _only_delta_errors(parse_hunks, diff, diff)
    if hunks is not None:
        assert all(h.old_count >= 0 and h.new_count >= 0 for h in hunks)
    out = _only_delta_errors(apply_delta, diff, old, diff)
    assert out is None or isinstance(out, bytes)


@profile(1000)
@given(case=hunk_diffs(), other=st.binary(max_size=40))
@example(case=(b"@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+b\n", b"a"), other=b"")
def test_apply_hunks_with_markers_to_the_text_they_fit(case, other):
    diff, fits = case
    for old in (fits, fits.rstrip(b"\n"), other, b""):
        out = _only_delta_errors(apply_delta, diff, old, diff)
        assert out is None or isinstance(out, bytes)


@profile(800)
@given(data=st.data(), texts=related_texts(3))
def test_apply_mutated_real_deltas(data, texts):
    old, new, other = texts
    diff, _, _ = make_delta(old, new)
    assert apply_delta(old, diff) == new  # the unmutated delta applies
    bad = data.draw(mutated(diff), label="mutated diff")
    target = data.draw(st.sampled_from([old, new, other, old + b"x\n", b""]), label="target")
    out = _only_delta_errors(apply_delta, bad, target, bad)
    assert out is None or isinstance(out, bytes)
    _only_delta_errors(parse_hunks, bad, bad)


@profile(400)
@given(data=st.data(), texts=related_texts(4))
def test_apply_chain_with_a_mutated_link(data, texts):
    deltas = [make_delta(a, b)[0] for a, b in zip(texts, texts[1:])]
    assert apply_chain(texts[0], deltas) == texts[-1]
    k = data.draw(st.integers(0, len(deltas) - 1), label="mutated link")
    deltas[k] = data.draw(mutated(deltas[k]), label="mutated diff")
    if data.draw(st.booleans(), label="drop a link") and len(deltas) > 1:
        del deltas[data.draw(st.integers(0, len(deltas) - 1))]
    joined = b"\n\x00\n".join(deltas)  # named in the failure message
    out = _only_delta_errors(apply_chain, joined, texts[0], deltas)
    assert out is None or isinstance(out, bytes)


def test_two_no_newline_markers_in_a_row_are_a_delta_error():
    with pytest.raises(DeltaError):
        apply_delta(b"", b"@@ -0,0 +1 @@\n+\n\\\n\\\n")


def test_hunk_header_with_a_huge_number_is_a_delta_error():
    with pytest.raises(DeltaError):
        apply_delta(b"x\n", b"@@ -" + b"9" * 5000 + b" +1 @@\n-x\n")


# -- merge_texts -------------------------------------------------------------------------------
@profile(500)
@given(texts=related_texts(3), diff3=st.booleans())
@example(texts=[b"", b"a", b"b"], diff3=False)
@example(texts=[b"a\r\nb\r\n", b"A\r\nb\r\n", b"a\r\nB\n"], diff3=False)  # CRLF / mixed
@example(texts=[b"a\nb", b"a\nB", b"a\nb\n"], diff3=True)  # no final newline
@example(texts=[b"\x00\n", b"\x00x\n", b"\x00y\n"], diff3=False)  # NULs
@example(texts=[b"caf\xe9\n", b"caf\xe9 au\n", b"cafe\n"], diff3=False)  # invalid UTF-8
@example(texts=[b"x" * 300_000, b"x" * 150_000 + b"y" + b"x" * 150_000,
                b"x" * 150_000 + b"z" + b"x" * 150_000], diff3=False)  # a huge line
@example(texts=[b"<<<<<<< HEAD\n=======\n>>>>>>> theirs\n", b"<<<<<<< HEAD\n", b""],
         diff3=True)  # inputs that already hold markers
def test_merge_texts_never_raises(texts, diff3):
    base, ours, theirs = texts
    r = merge_texts(base, ours, theirs, diff3=diff3)
    assert isinstance(r.content, bytes)
    assert isinstance(r.conflicts, int) and r.conflicts >= 0
    if r.conflicts:
        assert has_conflict_markers(r.content)
        if diff3:
            assert b"\n|||||||" in b"\n" + r.content
    elif not any(has_conflict_markers(t) for t in texts):
        assert not has_conflict_markers(r.content)
    # a clean merge on one side is a clean merge on the other
    swapped = merge_texts(base, theirs, ours, diff3=diff3)
    assert (swapped.conflicts == 0) == (r.conflicts == 0)


@profile(200)
@given(base=st.one_of(st.binary(max_size=200), related_texts(1).map(lambda t: t[0])),
       x=st.one_of(st.binary(max_size=200), related_texts(1).map(lambda t: t[0])))
@example(base=b"a\r\nb", x=b"a\nb\r\n")
@example(base=b"", x=b"\x00\xff\r")
def test_merge_identities_on_arbitrary_bytes(base, x):
    for ours, theirs in ((x, base), (base, x), (x, x)):
        r = merge_texts(base, ours, theirs)
        assert (r.content, r.conflicts) == (x, 0)


# -- Repo.resolve -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_repo(tmp_path_factory):
    """main: c1 - c2 - m (merge of side: c1 - c3); tag v1 at c1, tag head at m.
    Returns (repo, {name: commit id}, {commit id: parents})."""
    from promptvc.repo import Repo

    root = tmp_path_factory.mktemp("resolve")
    with pytest.MonkeyPatch.context() as mp:  # module scope: clean_env does not apply yet
        for key in [k for k in os.environ if k.startswith(("PVC_", "XDG_", "GIT_"))]:
            mp.delenv(key)
        mp.setenv("HOME", str(root))
        mp.setenv("PVC_AUTHOR", AUTHOR)
        repo = Repo.init(root)
        built = _build_history(repo, root)
    yield built
    repo.close()


def _build_history(repo, root):
    def commit(msg: str, second: int) -> str:
        return repo.commit_changes(msg, author=AUTHOR,
                                   date=f"2026-01-02T03:04:{second:02d}+00:00").id

    (root / "a.md").write_text("1\n")
    repo.add(["a.md"], cwd=root)
    ids = {"c1": commit("c1", 1)}
    repo.create_branch("side")
    repo.tag("v1")
    (root / "a.md").write_text("2\n")
    ids["c2"] = commit("c2", 2)
    repo.switch("side")
    (root / "b.md").write_text("b\n")
    repo.add(["b.md"], cwd=root)
    ids["c3"] = commit("c3", 3)
    repo.switch("main")
    outcome = repo.merge("side", author=AUTHOR, date="2026-01-02T03:04:05+00:00")
    ids["m"] = outcome.commit
    repo.tag("head")
    parents = {cid: repo.commit_row(cid).parents for cid in ids.values()}
    return repo, ids, parents


REV_PIECES = ["HEAD", "@", "main", "side", "v1", "head", "refs/heads/main", "refs/tags/v1",
              "~", "^", "~0", "~1", "~2", "^0", "^1", "^2", "^3", "~10", "0", "9", "a", "f",
              "ab", "beef", ":", ":a.md", "..", "...", "@{1}", "{", "}", "/", " ", "\t", "\x00",
              "-", "\n", "é", "*", "?", "[", "~" * 30, "^" * 30]


@profile(400)
@given(rev=st.one_of(st.text(max_size=30), st.lists(st.sampled_from(REV_PIECES), max_size=8)
                     .map("".join)))
@example(rev="")
@example(rev="   ")
@example(rev="~")
@example(rev="^")
@example(rev="HEAD~99999999999999999999")
@example(rev="HEAD" + "^" * 200)
@example(rev="HEAD" + "~1" * 2000)  # long but bounded: no recursion per step
@example(rev="0000")
@example(rev="a" * 64)
@example(rev="a" * 65)
def test_resolve_raises_only_pvc_errors(small_repo, rev):
    repo, _, _ = small_repo
    try:
        cid = repo.resolve(rev)
    except PvcError:
        return
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid


def _walk(parents: dict, cid: str, ops: list[str]) -> str | None:
    """The model: git's meaning of ~N and ^N, or None when the walk leaves the graph."""
    for op in ops:
        n = int(op[1:] or 1)
        if op[0] == "~":
            for _ in range(n):
                if not parents[cid]:
                    return None
                cid = parents[cid][0]
        elif n:
            if n > len(parents[cid]):
                return None
            cid = parents[cid][n - 1]
    return cid


@profile(300)
@given(start=st.sampled_from(["HEAD", "@", "main", "head", "side", "v1", "m4"]),
       ops=st.lists(st.sampled_from(["~", "~0", "~1", "~2", "~3", "^", "^0", "^1", "^2",
                                     "^3"]), max_size=6))
@example(start="HEAD", ops=["~1", "^1", "~0"])
@example(start="HEAD", ops=["^2"])
@example(start="HEAD", ops=["^2", "~1"])
def test_resolve_matches_a_model_of_tilde_and_caret(small_repo, start, ops):
    repo, ids, parents = small_repo
    starts = {"HEAD": ids["m"], "@": ids["m"], "main": ids["m"], "head": ids["m"],
              "side": ids["c3"], "v1": ids["c1"]}
    start_id = starts.get(start)
    if start == "m4":  # a commit id prefix
        start, start_id = ids["m"][:4], ids["m"]
    rev = start + "".join(ops)
    want = _walk(parents, start_id, ops)
    if want is None:
        with pytest.raises(UnknownRevision):
            repo.resolve(rev)
    else:
        assert repo.resolve(rev) == want


def test_resolve_valid_revisions(small_repo):
    repo, ids, _ = small_repo
    assert repo.resolve("HEAD~1^1~0") == ids["c1"]
    assert repo.resolve("HEAD^2") == ids["c3"]
    assert repo.resolve("HEAD^2~1") == ids["c1"]
    assert repo.resolve(" main ") == ids["m"]
    assert repo.resolve(ids["c2"][:4]) == ids["c2"]
    assert repo.resolve("v1~0^0") == ids["c1"]


def test_resolve_huge_tilde_count_is_unknown_revision(small_repo):
    repo, _, _ = small_repo
    with pytest.raises(UnknownRevision):
        repo.resolve("HEAD~" + "9" * 5000)


def test_resolve_non_utf8_revision_is_unknown_revision(small_repo):
    repo, _, _ = small_repo
    with pytest.raises(UnknownRevision):
        repo.resolve("\udcff")


# -- ref names -------------------------------------------------------------------------------
REF_PIECES = ["a", "b", "x", "main", ".", "..", "/", "//", "-", "_", "@", "@{", "{", "}",
              ".lock", "lock", "HEAD", "~", "^", ":", "?", "*", "[", "\\", " ", "\t", "\x00",
              "\x1b", "\x7f", "\x80", "é", "日本", "\u200b", "\ufeff"]
ref_names = st.one_of(st.text(max_size=20),
                      st.lists(st.sampled_from(REF_PIECES), max_size=8).map("".join))


@profile(500)
@given(name=ref_names)
@example(name="")
@example(name="@")
@example(name="a" * 10_000)
def test_check_ref_name_raises_only_ref_error(name):
    try:
        assert check_ref_name(name) == name
    except RefError as exc:
        assert exc.message.startswith(f"'{name}' is not a valid branch name: ")
        assert ref_name_problem(name) is not None
    else:
        assert ref_name_problem(name) is None


def _git_accepts_branch(name: str) -> bool:
    p = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True,
                       cwd=os.path.abspath(os.sep))  # outside any git repository
    return p.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@profile(250)
@given(name=ref_names.filter(lambda n: "\x00" not in n))
@example(name="feature/x")
@example(name="a.b")
@example(name="@x")
@example(name="x@")
@example(name="é")
def test_every_name_pvc_accepts_git_accepts(name):
    if ref_name_problem(name) is None:
        assert _git_accepts_branch(name), f"pvc accepts {name!r}, git check-ref-format does not"
