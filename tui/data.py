"""All repository access of the TUI, off the UI thread.

A :class:`Lane` is one thread that owns one :class:`~promptvc.repo.Repo` (opened in that
thread, used only there, closed there), so a libSQL connection is never shared between
threads. Widgets ``await lane.call(Reader.method, ...)`` from async workers; calls on a lane
run one at a time, in order. A call made with a ``key`` is skipped (raises :class:`Stale`)
when a newer call with the same key was made before it started: scrolling quickly through
the log queues no pile of stale loads.

The app uses two lanes: ``log`` for history walks (which can take a while on a large
repository) and ``ui`` for quick reads (refs, a commit's files, a diff) and branch switches,
so a slow log query never delays a diff.

:class:`Reader` holds the queries the panes need, built only on public Repo methods.

Layer: the TUI's one door to the repository: Repo's public methods, promptvc.history and
promptvc.delta; no Textual here.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from promptvc.delta import unified_diff
from promptvc.repo import CommitInfo, Repo

from .filters import LogFilter

if TYPE_CHECKING:  # the row type Repo.changes() returns
    from promptvc.repo import ChangeRow

T = TypeVar("T")

HEADS, TAGS, REMOTES = "refs/heads/", "refs/tags/", "refs/remotes/"


class Stale(Exception):
    """A keyed call was overtaken by a newer one before it ran."""


class Lane:
    """One worker thread with its own Repo; calls run there one at a time."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pvc-tui-{name}")
        self._reader: Reader | None = None  # touched only on the lane's thread
        self._latest: dict[str, int] = {}
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()

    def _run(self, fn: Callable[..., T], args: tuple, key: str | None, token: int) -> T:
        if key is not None:
            with self._lock:
                if self._latest.get(key) != token:
                    raise Stale(key)
        if self._reader is None:
            self._reader = Reader(Repo.open(self.root))
        return fn(self._reader, *args)

    async def call(self, fn: Callable[..., T], *args: Any, key: str | None = None) -> T:
        """Run ``fn(reader, *args)`` on the lane's thread and return its result."""
        token = next(self._tokens)
        if key is not None:
            with self._lock:
                self._latest[key] = token
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, fn, args, key, token)

    def close(self) -> None:
        """Stop the thread (waiting for a running call; queued ones are dropped), then
        close its Repo: no call can use it any more."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._reader is not None:
            self._reader.repo.close()
            self._reader = None


# -- what the panes show ----------------------------------------------------------------
@dataclass(frozen=True)
class RefsInfo:
    branches: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    remotes: list[tuple[str, str]]
    current: str | None  # current branch name, None when detached
    head: str | None  # HEAD's commit id

    def names_at(self) -> dict[str, list[str]]:
        """Commit id -> short ref names pointing at it (for decorating the log), HEAD
        first as ``git log`` does: 'HEAD → main' (or 'HEAD' when detached), then the other
        branches, tags and remote branches."""
        out: dict[str, list[str]] = {}
        if self.head is not None:
            out[self.head] = [f"HEAD → {self.current}" if self.current else "HEAD"]
        for name, cid in self.branches:
            if cid != self.head or name != self.current:  # else already first: HEAD → NAME
                out.setdefault(cid, []).append(name)
        for name, cid in self.tags + self.remotes:
            out.setdefault(cid, []).append(name)
        return out


@dataclass(frozen=True)
class LogQuery:
    rev: str  # a full ref name, "HEAD" or any revision pvc understands
    filter: LogFilter = LogFilter()


@dataclass(frozen=True)
class LogPage:
    commits: list[CommitInfo]
    offset: int
    done: bool  # no commits after these
    head: str | None  # the commit REV resolved to (None: an empty branch)


@dataclass(frozen=True)
class FileRef:
    """One version of one file, as seen in one commit."""

    commit: str
    path: str
    version: str | None  # None: the file does not exist there (deleted)

    @property
    def label(self) -> str:
        return f"{self.path}@{self.commit[:8]}"


@dataclass(frozen=True)
class Doc:
    """Everything the viewer needs about one selected file: its diff and its content."""

    key: tuple  # what was asked for, so stale results can be told apart
    title: str
    diff: bytes  # unified diff (to the parent, or between two compared versions)
    content: bytes | None  # the selected version's bytes (None: deleted)
    ref: FileRef | None = None  # the selected version
    compare: FileRef | None = None  # the marked version, when this is a comparison
    note: str = ""


@dataclass(frozen=True)
class CommitView:
    commit: str
    changes: list[ChangeRow]
    first: Doc | None


class LogWalk:
    """The commits reachable from START in exactly ``Repo.log``'s order, produced lazily
    (a page at a time) by the core walker, :class:`promptvc.history.Walker`: the first page
    costs the same on any history."""

    def __init__(self, repo: Repo, start: str):
        self._walker = repo.walker([start])

    @property
    def done(self) -> bool:
        return self._walker.done

    def take(self, n: int) -> list[CommitInfo]:
        return [CommitInfo.from_row(r) for r in self._walker.take(n)]


@dataclass
class _LogCache:
    commits: list[CommitInfo] = field(default_factory=list)
    complete: bool = False
    walk: LogWalk | None = None  # unfiltered logs are walked a page at a time


def change_ref(cid: str, change: "ChangeRow") -> FileRef:
    if change.status == "D":
        return FileRef(cid, change.path, None)
    return FileRef(cid, change.path, change.version_id)


class Reader:
    """The TUI's queries on one Repo (one thread at a time)."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self._logs: dict[tuple, _LogCache] = {}

    # -- refs -------------------------------------------------------------------------
    def refs(self) -> RefsInfo:
        r = self.repo
        return RefsInfo(r.branches(), r.tags(), r.remote_branches(), r.current_branch(), r.head())

    def resolve(self, rev: str) -> CommitInfo:
        return self.repo.commit(rev)

    # -- log --------------------------------------------------------------------------
    def log_page(self, query: LogQuery, offset: int, count: int) -> LogPage:
        """COUNT commits of QUERY's log from OFFSET (newest first)."""
        r = self.repo
        if query.rev in ("HEAD", r.head_ref()) and r.head() is None:
            return LogPage([], offset, True, None)  # a branch with no commits yet
        start = r.resolve(query.rev)
        key = (start, query.filter)
        cache = self._logs.get(key)
        if cache is None:
            if len(self._logs) > 8:
                self._logs.clear()
            cache = self._logs[key] = _LogCache()
        need = offset + count
        while len(cache.commits) < need and not cache.complete:
            self._grow(cache, start, query.filter, need)
        commits = cache.commits[offset:need]
        return LogPage(commits, offset, cache.complete and need >= len(cache.commits), start)

    def _grow(self, cache: _LogCache, start: str, flt: LogFilter, need: int) -> None:
        r = self.repo
        if flt.empty:
            if cache.walk is None:
                cache.walk = LogWalk(r, start)
            cache.commits.extend(cache.walk.take(need - len(cache.commits)))
            cache.complete = cache.walk.done
            return
        # a filter: one walk over the whole history (path filters use the change index)
        paths = self._expand_paths(start, flt.paths) if flt.paths else None
        if flt.paths and not paths:
            got = []
        else:
            got = r.log(start, paths=paths)
        cache.commits = [c for c in got if flt.matches(c.author, c.message)]
        cache.complete = True

    def _expand_paths(self, start: str, patterns: tuple[str, ...]) -> list[str]:
        """Paths a filter names: exact paths, folders (everything under them) and globs,
        matched against the files of the start commit; unknown exact paths are kept (a
        deleted file still has history)."""
        tree = self.repo.tree(start)
        out: list[str] = []
        for pat in patterns:
            pat = pat.strip()
            while pat.startswith("./"):
                pat = pat[2:]
            pat = "" if pat in (".", "/") else pat
            if any(ch in pat for ch in "*?["):
                out += [p for p in tree if fnmatch.fnmatchcase(p, pat)
                        or fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pat)]
                continue
            under = [p for p in tree if pat == "" or p.startswith(pat.rstrip("/") + "/")]
            out += under if under else [pat]
        return list(dict.fromkeys(out))

    # -- one commit, one file -----------------------------------------------------------
    def commit_view(self, cid: str, mark: FileRef | None = None,
                    prefer_path: str | None = None) -> CommitView:
        """A commit's changed files, and the document of one of them (PREFER_PATH when the
        commit changed it, else the first)."""
        changes = self.repo.changes(cid)
        pick = next((c for c in changes if c.path == prefer_path), changes[0] if changes else None)
        first = self.file_doc(cid, pick, mark) if pick is not None else None
        return CommitView(cid, changes, first)

    def file_doc(self, cid: str, change: "ChangeRow", mark: FileRef | None = None) -> Doc:
        """The diff of CHANGE to the commit's first parent, or, when another version is
        MARKED, the diff from that version to this one; and this version's content."""
        read = self.repo.read_version
        ref = change_ref(cid, change)
        new = read(change.version_id) if change.version_id else None
        compare = effective_compare(mark, cid, change.path)
        if compare is not None:
            old = read(compare.version) if compare.version else None
            # the title names both versions; the diff headers carry just the paths
            diff = b"" if old == new else unified_diff(old, new, compare.path, ref.path)
            title = (f"{ref.path}@{compare.commit[:8]} → @{cid[:8]}" if compare.path == ref.path
                     else f"{compare.label} → {ref.label}")
            note = "" if diff else "the two versions are identical"
            return Doc(doc_key(cid, change.path, compare), title, diff, new, ref, compare, note)
        old = read(change.old_version_id) if change.old_version_id else None
        diff = unified_diff(old, new, change.old_path or change.path, change.path)
        content = new if new is not None else old
        note = "deleted in this commit; content shown is its last version" if new is None else ""
        return Doc(doc_key(cid, change.path, None), f"{change.path}@{cid[:8]}", diff, content,
                   ref, None, note)

    # -- writes -------------------------------------------------------------------------
    def switch(self, name: str) -> str:
        return self.repo.switch(name)


def effective_compare(mark: FileRef | None, cid: str, path: str) -> FileRef | None:
    """The marked version to compare (CID, PATH) with: none when nothing is marked or when
    (CID, PATH) is the marked version itself."""
    if mark is None or (mark.commit, mark.path) == (cid, path):
        return None
    return mark


def doc_key(cid: str, path: str, compare: FileRef | None) -> tuple:
    return (cid, path, compare)
