"""Walks of the commit graph: one lazy, generation-ordered walker for every front end.

Every commit stores its generation (1 + the highest generation of its parents), so a
parent always has a lower generation than each of its children. :class:`Walker` pops
commits from a priority queue in the order ``generation DESC, committed_at DESC, id`` (the
order `pvc log` has always printed): once a commit pops, every descendant of it that the
walk can reach has popped before it, so everything known about it (reachable from an
excluded commit? a common ancestor?) is final. That lets each walk stop early:

- ``Walker(store, heads).take(n)`` reads about N commits, whatever the length of history;
- ``Walker(store, heads, exclude=...)`` (``A..B``) stops once only excluded commits remain;
- :func:`is_ancestor` stops below the generation of the candidate;
- :func:`merge_bases` paints down from both sides and stops when only commits below a
  common ancestor remain (git's ``paint_down_to_common`` with generation numbers).

Rows are read through :class:`~promptvc.store.Store`'s public methods only: a window of
generations at a time (``commits_in_generations``), falling back to one ``get_commit`` per
commit when a row is not in the window. Memory follows the width of the graph, never its
length.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Iterator, Sequence

from .store import CommitRow

#: generations read per query: the first window is small (`log -n 20`), later ones grow
FIRST_WINDOW = 32
MAX_WINDOW = 4096

_INTERESTING, _UNINTERESTING = 1, 2


class _Key:
    """Heap order: generation descending, then date descending, then id ascending."""

    __slots__ = ("gen", "date", "id")

    def __init__(self, row: CommitRow):
        self.gen, self.date, self.id = row.generation, row.committed_at, row.id

    def __lt__(self, other: "_Key") -> bool:
        if self.gen != other.gen:
            return self.gen > other.gen
        if self.date != other.date:
            return self.date > other.date
        return self.id < other.id


class RowSource:
    """Commit rows on demand, read a window of generations at a time."""

    def __init__(self, store):
        self.store = store
        self._cache: dict[str, CommitRow] = {}
        self._window = FIRST_WINDOW
        self._low: int | None = None  # lowest generation read into the cache so far

    def get(self, cid: str, below: int | None = None) -> CommitRow | None:
        """The row of CID; BELOW is the generation of a child of CID (a hint: CID's own
        generation is lower), used to read the next window of generations."""
        row = self._cache.pop(cid, None)
        if row is not None:
            return row
        if below is not None and below > 1 and (self._low is None or below <= self._low):
            hi = below - 1
            lo = max(1, hi - self._window + 1)
            # walks pop in generation order, so nothing above the new window (all of the
            # old one) can be asked for again: the cache holds one window at a time
            self._cache = {r.id: r for r in self.store.commits_in_generations(lo, hi)}
            self._low = lo
            self._window = min(MAX_WINDOW, self._window * 2)
            row = self._cache.pop(cid, None)
            if row is not None:
                return row
        return self.store.get_commit(cid)


class Walker:
    """Commits reachable from HEADS and not from EXCLUDE, newest generation first, lazily.

    Iterate it, or call :meth:`take` for the next N. Unknown or missing ids are skipped
    (as a shallow or damaged history would be: `pvc fsck` reports them)."""

    def __init__(self, store, heads: Iterable[str | None], exclude: Iterable[str | None] = ()):
        self.rows = RowSource(store)
        self._heap: list[tuple[_Key, CommitRow, int]] = []
        self._flags: dict[str, int] = {}
        self._interesting = 0  # queued commits not reachable from EXCLUDE (as far as known)
        self.read = 0  # rows popped: what a walk cost
        for cid in exclude:
            if cid:
                self._queue(cid, _UNINTERESTING, None)
        for cid in heads:
            if cid:
                self._queue(cid, _INTERESTING, None)

    def _queue(self, cid: str, flag: int, below: int | None) -> None:
        old = self._flags.get(cid)
        if old is not None:
            if flag == _UNINTERESTING and old == _INTERESTING:
                self._flags[cid] = _UNINTERESTING
                self._interesting -= 1
            return
        row = self.rows.get(cid, below)
        if row is None:
            return
        self._flags[cid] = flag
        if flag == _INTERESTING:
            self._interesting += 1
        heapq.heappush(self._heap, (_Key(row), row, 0))

    @property
    def done(self) -> bool:
        return self._interesting == 0

    def __iter__(self) -> Iterator[CommitRow]:
        return self

    def __next__(self) -> CommitRow:
        heap, flags = self._heap, self._flags
        while heap and self._interesting:
            _, row, _ = heapq.heappop(heap)
            flag = flags.pop(row.id)
            self.read += 1
            if flag == _INTERESTING:
                self._interesting -= 1
            for parent in row.parents:
                self._queue(parent, flag, row.generation)
            if flag == _INTERESTING:
                return row
        raise StopIteration

    def take(self, n: int) -> list[CommitRow]:
        out: list[CommitRow] = []
        for row in self:
            out.append(row)
            if len(out) >= n:
                break
        return out


def walk(store, heads: Iterable[str | None], exclude: Iterable[str | None] = (),
         limit: int | None = None) -> Iterator[CommitRow]:
    """The commits of ``Walker(store, heads, exclude)``, at most LIMIT of them."""
    walker = Walker(store, heads, exclude)
    if limit is None:
        yield from walker
        return
    if limit <= 0:
        return
    for n, row in enumerate(walker, start=1):
        yield row
        if n >= limit:
            return


def count(store, head: str | None, exclude: Iterable[str | None] = ()) -> int:
    """How many commits are reachable from HEAD and not from EXCLUDE (`ahead` counts)."""
    return sum(1 for _ in Walker(store, [head], exclude))


def is_ancestor(store, ancestor: str | None, descendant: str | None) -> bool:
    """Whether ANCESTOR is DESCENDANT or one of its ancestors; the walk stops below
    ANCESTOR's generation."""
    if not ancestor or not descendant:
        return False
    if ancestor == descendant:
        return store.get_commit(ancestor) is not None
    target = store.get_commit(ancestor)
    if target is None:
        return False
    rows = RowSource(store)
    start = rows.get(descendant)
    if start is None or start.generation <= target.generation:
        return False
    heap: list[tuple[_Key, CommitRow, int]] = [(_Key(start), start, 0)]
    seen = {descendant}
    while heap:
        _, row, _ = heapq.heappop(heap)
        for parent in row.parents:
            if parent == ancestor:
                return True
            if parent in seen:
                continue
            seen.add(parent)
            prow = rows.get(parent, row.generation)
            if prow is not None and prow.generation > target.generation:
                heapq.heappush(heap, (_Key(prow), prow, 0))
    return False


_P1, _P2, _STALE, _RESULT = 1, 2, 4, 8


def merge_bases(store, a: str, b: str) -> list[str]:
    """The best common ancestors of A and B (none an ancestor of another), sorted by id.

    Paints commits reachable from A and from B in generation order; a commit painted by
    both is a common ancestor, and everything below it is marked stale. The walk ends when
    only stale commits remain queued."""
    if not a or not b:
        return []
    if a == b:
        return [a] if store.get_commit(a) is not None else []
    rows = RowSource(store)
    flags: dict[str, int] = {}
    heap: list[tuple[_Key, CommitRow, int]] = []
    live = 0  # queued commits that are not stale

    def queue(cid: str, flag: int, below: int | None) -> None:
        nonlocal live
        old = flags.get(cid)
        if old is not None:
            new = old | flag
            if new != old:
                if not old & _STALE and new & _STALE:
                    live -= 1
                flags[cid] = new
            return
        row = rows.get(cid, below)
        if row is None:
            return
        flags[cid] = flag
        if not flag & _STALE:
            live += 1
        heapq.heappush(heap, (_Key(row), row, 0))

    queue(a, _P1, None)
    queue(b, _P2, None)
    results: list[str] = []
    while heap and live:
        _, row, _ = heapq.heappop(heap)
        flag = flags.pop(row.id)
        if not flag & _STALE:
            live -= 1
            if flag & _P1 and flag & _P2:
                results.append(row.id)
                flag |= _STALE
        for parent in row.parents:
            queue(parent, flag & (_P1 | _P2 | _STALE), row.generation)
    return sorted(results)


def first_parents(store, head: str | None) -> Iterator[CommitRow]:
    """HEAD, its first parent, that one's first parent, ... (lazily)."""
    rows = RowSource(store)
    row = rows.get(head) if head else None
    while row is not None:
        yield row
        row = rows.get(row.parent1, row.generation) if row.parent1 else None


def rows_by_generation(rows: Sequence[CommitRow]) -> list[CommitRow]:
    """ROWS in walk order (generation DESC, committed_at DESC, id)."""
    return sorted(rows, key=_Key)
