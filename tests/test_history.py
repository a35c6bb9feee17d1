"""The core history walker (promptvc/history.py) against brute force on random graphs, and
the walks it serves (log, merge bases) on a real repository."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from promptvc import history
from promptvc.store import CommitRow


class FakeStore:
    """The two reads the walker makes, over a dict of rows; counts what it read."""

    def __init__(self, rows: dict[str, CommitRow]):
        self.rows = rows
        self.read = 0

    def get_commit(self, cid):
        row = self.rows.get(cid)
        self.read += row is not None
        return row

    def commits_in_generations(self, lo, hi):
        out = [r for r in self.rows.values() if lo <= r.generation <= hi]
        self.read += len(out)
        return out


@st.composite
def graphs(draw):
    """A random DAG: each commit has 0-2 earlier parents; dates collide on purpose."""
    n = draw(st.integers(1, 40))
    rows: dict[str, CommitRow] = {}
    ids = []
    for i in range(n):
        cid = f"c{i:02d}"
        parents = []
        if ids:
            k = draw(st.integers(0, min(2, len(ids))))
            parents = draw(st.lists(st.sampled_from(ids), min_size=k, max_size=k, unique=True))
        gen = 1 + max((rows[p].generation for p in parents), default=0)
        date = f"2024-01-{draw(st.integers(1, 5)):02d}"
        rows[cid] = CommitRow(cid, "t", parents[0] if parents else None,
                              parents[1] if len(parents) > 1 else None, "a", date, cid, gen)
        ids.append(cid)
    return rows


def ancestors(rows, cid):
    out, stack = set(), [cid]
    while stack:
        c = stack.pop()
        if c and c not in out and c in rows:
            out.add(c)
            stack += list(rows[c].parents)
    return out


def order(rows, ids):
    return [r.id for r in history.rows_by_generation([rows[i] for i in ids])]


def neg(s):
    return tuple(-ord(ch) for ch in s)


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_walk_equals_sorted_ancestry(rows, data):
    ids = sorted(rows)
    head = data.draw(st.sampled_from(ids))
    exclude = data.draw(st.lists(st.sampled_from(ids), max_size=2))
    want = ancestors(rows, head)
    for e in exclude:
        want -= ancestors(rows, e)
    expected = sorted((rows[i] for i in want),
                      key=lambda r: (-r.generation, neg(r.committed_at), r.id))
    got = list(history.Walker(FakeStore(rows), [head], exclude))
    assert [r.id for r in got] == [r.id for r in expected]
    limit = data.draw(st.integers(0, 5))
    assert [r.id for r in history.walk(FakeStore(rows), [head], exclude, limit)] == \
        [r.id for r in expected][:limit]
    assert history.count(FakeStore(rows), head, exclude) == len(expected)


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_is_ancestor_and_merge_bases_equal_brute_force(rows, data):
    ids = sorted(rows)
    a = data.draw(st.sampled_from(ids))
    b = data.draw(st.sampled_from(ids))
    assert history.is_ancestor(FakeStore(rows), a, b) == (a in ancestors(rows, b))
    common = ancestors(rows, a) & ancestors(rows, b)
    best = sorted(c for c in common
                  if not any(c != o and c in ancestors(rows, o) for o in common))
    assert history.merge_bases(FakeStore(rows), a, b) == best


def linear(n):
    rows = {}
    prev = None
    for i in range(1, n + 1):
        cid = f"c{i:06d}"
        rows[cid] = CommitRow(cid, "t", prev, None, "a", "2024-01-01", cid, i)
        prev = cid
    return rows, prev


def test_a_short_walk_reads_about_what_it_returns():
    rows, head = linear(5000)
    store = FakeStore(rows)
    got = history.walk(store, [head], limit=20)
    assert [r.generation for r in got] == list(range(5000, 4980, -1))
    assert store.read <= 20 + history.FIRST_WINDOW + 1


def test_ancestry_and_bases_stop_at_the_generation_they_need():
    rows, head = linear(5000)
    # a side branch off c004990, and a question about a recent ancestor
    rows["side"] = CommitRow("side", "t", "c004990", None, "a", "2024-01-02", "s", 4991)
    store = FakeStore(rows)
    assert history.merge_bases(store, head, "side") == ["c004990"]
    assert store.read < 200
    store = FakeStore(rows)
    assert history.is_ancestor(store, "c004900", head)
    assert not history.is_ancestor(store, "side", head)
    assert store.read < 400


def test_log_on_a_repository_with_a_merge(repo, pvc):
    (repo / "a.md").write_text("one\n")
    pvc("add", "a.md")
    pvc("commit", "-m", "first")
    pvc("switch", "-c", "side")
    (repo / "b.md").write_text("bee\n")
    pvc("add", "b.md")
    pvc("commit", "-m", "side work")
    pvc("switch", "main")
    (repo / "a.md").write_text("two\n")
    pvc("commit", "-am", "main work")
    merged = pvc("merge", "side", "-m", "merge side")
    assert merged.exit_code == 0, merged.output
    def msgs(*args):
        import json

        res = pvc("log", "--json", *args)
        assert res.exit_code == 0, res.output
        return [c["message"] for c in json.loads(res.stdout)]

    assert msgs() in (["merge side", "main work", "side work", "first"],
                      ["merge side", "side work", "main work", "first"])
    assert msgs("-n", "1") == ["merge side"]
    assert msgs("-n", "0") == []
    assert msgs("--", "b.md") == ["merge side", "side work"]  # changes vs the first parent
    assert msgs("-n", "1", "--", "a.md") == ["main work"]
    assert msgs("side..main") == ["merge side", "main work"]
    assert msgs("main..side") == []
