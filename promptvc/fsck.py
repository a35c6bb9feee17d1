"""`pvc fsck`: recompute every hash, walk every chain, report every problem.

Like `hg verify`, it collects all problems instead of stopping at the first. Each problem
carries a :class:`ProblemCode` that `fsck --repair` (promptvc/repair.py) decides on; the
message is for people. It streams the
database (versions in storage order, commits by generation) with bounded caches, so its
memory does not grow with the history and each diff is applied once.

Layer: over objects, delta and the store (through the repository it is given); it
imports promptvc.search inside the check that needs it.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from . import delta
from .errors import IntegrityError
from .objects import EMPTY_TREE, commit_id, parse_manifest, sha256


class ProblemCode(str, enum.Enum):
    """What is wrong with an object, for code (repair) and scripts."""

    OTHER = "other"
    DATABASE_INTEGRITY = "database-integrity"  # PRAGMA integrity_check
    VERSION_UNDECOMPRESSABLE = "version-undecompressable"
    SNAPSHOT_CHAIN = "snapshot-chain"  # a snapshot with chain length or size
    DIFF_BASE_MISSING = "diff-base-missing"
    DIFF_BASE_DAMAGED = "diff-base-damaged"  # unreadable because its base is damaged
    DIFF_DOES_NOT_APPLY = "diff-does-not-apply"
    CHAIN_BOOKKEEPING = "chain-bookkeeping"
    CONTENT_HASH = "content-hash"  # content does not match its SHA-256
    SIZE = "size"
    TREE_DAMAGED = "tree-damaged"  # a commit's tree is missing or damaged
    TREE_VERSION_MISSING = "tree-version-missing"
    COMMIT_ID = "commit-id"  # id does not match the commit's content
    COMMIT_PARENT_MISSING = "commit-parent-missing"
    COMMIT_GENERATION = "commit-generation"
    CHANGE_INDEX = "change-index"
    REF_TARGET_MISSING = "ref-target-missing"
    REF_REFLOG_MISMATCH = "ref-reflog-mismatch"
    REFLOG_BROKEN = "reflog-broken"
    SEARCH_INDEX = "search-index"  # derived data: `pvc search --reindex` rebuilds it

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Problem:
    kind: str  # version | tree | commit | ref | reflog | database
    object: str
    path: str | None
    message: str
    code: ProblemCode = ProblemCode.OTHER

    def to_json(self) -> dict:
        return {"kind": self.kind, "object": self.object, "path": self.path, "message": self.message}

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.kind} {self.object[:12]}{where}: {self.message}"


@dataclass
class Report:
    problems: list[Problem]
    versions: int = 0
    commits: int = 0
    refs: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "versions": self.versions, "commits": self.commits,
                "refs": self.refs, "problems": [p.to_json() for p in self.problems]}


class _Lru:
    """Recently verified values, bounded by a total size (bytes for texts)."""

    def __init__(self, max_size: int):
        self.items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self.size = 0
        self.max_size = max_size

    def get(self, key):
        hit = self.items.get(key)
        if hit is None:
            return None
        self.items.move_to_end(key)
        return hit[0]

    def put(self, key: str, value, size: int = 1) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.items[key] = (value, size)
        self.size += size
        while self.size > self.max_size and len(self.items) > 1:
            _, (_, dropped) = self.items.popitem(last=False)
            self.size -= dropped


#: texts kept for the diffs that follow them (most diffs follow their base closely)
TEXT_CACHE_BYTES = 64 * 2**20
COMMIT_WINDOW = 2000  # generations of commits read per query


def check(repo, progress=None) -> Report:
    """Every problem in REPO. Streams: versions in storage order (each reconstructed once,
    from its base's verified text when that is still cached), commits a window of
    generations at a time; memory follows the cache sizes, not the history."""
    store, vs = repo.store, repo.versions
    problems: list[Problem] = []
    report = Report(problems)

    for line in store.integrity_check():
        problems.append(Problem("database", repo.store.path, None, f"integrity_check: {line}", ProblemCode.DATABASE_INTEGRITY))

    # 1. versions: every row rebuilt from its own stored bytes (and its base) and checked.
    bad: set[str] = set()  # versions found damaged or unreadable (proportional to damage)
    texts = _Lru(TEXT_CACHE_BYTES)  # id -> verified content
    chains = _Lru(50_000)  # id -> actual (chain length, chain bytes)

    def rebuild(vid: str) -> tuple[bytes, tuple[int, int]] | None:
        """A base that is not cached: its content and actual chain, or None if unreadable
        (it is reported where it is itself checked)."""
        rows = store.version_chain(vid)
        if not rows or rows[-1].id != vid or rows[0].storage != "snapshot":
            return None
        try:
            content = vs.decode_row(rows[0])
            n = size = 0
            for row in rows[1:]:
                diff = vs.decode_row(row)
                content = delta.apply_delta(content, diff)
                n, size = n + 1, size + len(diff)
        except (IntegrityError, delta.DeltaError):
            return None
        if sha256(content) != vid:
            return None
        return content, (n, size)

    total = store.version_count()
    report.versions = 0
    for i, r in enumerate(store.iter_versions_stored()):
        report.versions += 1
        if progress:
            progress(i, total)
        label = r.path or r.kind
        try:
            data = vs.decode_row(r)
        except IntegrityError:
            problems.append(Problem("version", r.id, label, "stored data does not decompress", ProblemCode.VERSION_UNDECOMPRESSABLE))
            bad.add(r.id)
            continue
        if r.storage == "snapshot":
            content = data
            chain = (0, 0)
            if r.chain_len != 0 or r.chain_bytes != 0:
                problems.append(Problem("version", r.id, label,
                                        "snapshot with a non-zero chain length or size", ProblemCode.SNAPSHOT_CHAIN))
        else:
            base_id = r.parent_version_id
            base = texts.get(base_id) if base_id else None
            base_chain = chains.get(base_id) if base_id else None
            if base is None and (base_id is None or not store.has_version(base_id)):
                problems.append(Problem("version", r.id, label,
                                        f"diff base {str(base_id)[:12]} is missing", ProblemCode.DIFF_BASE_MISSING))
                bad.add(r.id)
                continue
            if base is None or base_chain is None:
                got = rebuild(base_id) if base_id not in bad else None
                if got is None:
                    problems.append(Problem("version", r.id, label,
                                            f"unreadable: its diff base {base_id[:12]} is damaged", ProblemCode.DIFF_BASE_DAMAGED))
                    bad.add(r.id)
                    continue
                base, base_chain = got
            try:
                content = delta.apply_delta(base, data)
            except delta.DeltaError as exc:
                problems.append(Problem("version", r.id, label, f"diff does not apply: {exc}", ProblemCode.DIFF_DOES_NOT_APPLY))
                bad.add(r.id)
                continue
            chain = (base_chain[0] + 1, base_chain[1] + len(data))
            if (r.chain_len, r.chain_bytes) != chain:
                problems.append(Problem(
                    "version", r.id, label,
                    f"chain bookkeeping is wrong: stored length {r.chain_len} / bytes "
                    f"{r.chain_bytes}, actual {chain[0]} / {chain[1]}", ProblemCode.CHAIN_BOOKKEEPING))
        if sha256(content) != r.id:
            problems.append(Problem("version", r.id, label,
                                    "content does not match its SHA-256", ProblemCode.CONTENT_HASH))
            bad.add(r.id)
            continue
        if len(content) != r.size:
            problems.append(Problem("version", r.id, label,
                                    f"size is recorded as {r.size}, content has {len(content)}", ProblemCode.SIZE))
        chains.put(r.id, chain)
        texts.put(r.id, content, len(content) + 100)
    del texts, chains

    # 2. commits, in generation order (a parent before its children): id recomputed, tree
    # readable, parents present, generation right, change index consistent with the tree.
    report.commits = store.commit_count()
    recent = _Lru(4 * COMMIT_WINDOW)  # id -> CommitRow
    tree_texts = _Lru(16 * 2**20)  # tree id -> manifest bytes
    trees = _Lru(64)  # tree id -> parsed tree

    def commit_row(cid: str):
        row = recent.get(cid)
        return row if row is not None else store.get_commit(cid)

    def tree_of(c) -> dict[str, str] | None:
        t = trees.get(c.tree_id)
        if t is not None:
            return t
        if c.tree_id == EMPTY_TREE:
            return {}
        if c.tree_id in bad:
            return None
        row = store.get_version_row(c.tree_id)
        if row is None:
            return None
        try:
            base = (tree_texts.get(row.parent_version_id)
                    if row.storage == "diff" and row.parent_version_id else None)
            if base is not None:
                data = delta.apply_delta(base, vs.decode_row(row))
                if sha256(data) != c.tree_id:
                    return None
            else:
                data = vs.get(c.tree_id)
            t = parse_manifest(data)
        except (IntegrityError, UnicodeDecodeError, delta.DeltaError):
            return None
        tree_texts.put(c.tree_id, data, len(data) + 100)
        trees.put(c.tree_id, t)
        return t

    span = store.generation_range()
    lo = span[0] if span else 1
    while span and lo <= span[1]:
        hi = lo + COMMIT_WINDOW - 1
        window = sorted(store.commits_in_generations(lo, hi), key=lambda r: (r.generation, r.id))
        lo = hi + 1
        for c in window:
            recent.put(c.id, c)
        for c in window:
            _check_commit(c, store, commit_row, tree_of, problems)
    _check_refs(store, report, problems)

    # 4. the search index (derived data): consistent with the versions it names
    from .search import check as check_search

    for obj, path, message in check_search(repo):
        problems.append(Problem("search", obj, path or None, message, ProblemCode.SEARCH_INDEX))
    return report


def _check_commit(c, store, commit_row, tree_of, problems: list[Problem]) -> None:
    expect = commit_id(c.tree_id, c.parents, c.author, c.committed_at, c.message)
    if expect != c.id:
        problems.append(Problem("commit", c.id, None,
                                "id does not match its content (tree, parents, author, date "
                                "or message was changed)", ProblemCode.COMMIT_ID))
    parents = {}
    for p in c.parents:
        row = commit_row(p)
        if row is None:
            problems.append(Problem("commit", c.id, None, f"parent {p[:12]} is missing",
                                    ProblemCode.COMMIT_PARENT_MISSING))
        else:
            parents[p] = row
    tree = tree_of(c)
    if tree is None:
        problems.append(Problem("tree", c.tree_id, None,
                                f"tree of commit {c.id[:12]} is missing or damaged", ProblemCode.TREE_DAMAGED))
        return
    gen = 1 + max((r.generation for r in parents.values()), default=0)
    parent_tree: dict[str, str] | None = {}
    if c.parent1 and c.parent1 in parents:
        parent_tree = tree_of(parents[c.parent1])
    # a version named by the tree: checked where the tree changed it (or everywhere when
    # there is no parent tree to compare with); the parent's own entries were checked there
    for path, vid in tree.items():
        if (parent_tree is None or parent_tree.get(path) != vid) and not store.has_version(vid):
            problems.append(Problem("tree", c.tree_id, path,
                                    f"commit {c.id[:12]} names missing version {vid[:12]}", ProblemCode.TREE_VERSION_MISSING))
    if c.generation != gen:
        problems.append(Problem("commit", c.id, None,
                                f"generation is {c.generation}, expected {gen}", ProblemCode.COMMIT_GENERATION))
    if parent_tree is None:
        return  # the parent's tree is reported already; nothing to compare with
    expected = {(p, vid) for p, vid in tree.items() if parent_tree.get(p) != vid}
    expected |= {(p, None) for p in parent_tree if p not in tree}
    recorded = set()
    for ch in store.changes_of(c.id):
        recorded.add((ch.path, ch.version_id))
        if ch.old_path and ch.old_path not in tree:  # the old path may be re-created
            recorded.add((ch.old_path, None))
    if c.parent1 and c.parent1 not in parents:
        return
    if recorded != expected:
        problems.append(Problem("commit", c.id, None,
                                "its change index does not match its tree", ProblemCode.CHANGE_INDEX))


def _check_refs(store, report: Report, problems: list[Problem]) -> Report:
    # 3. refs: point at commits, agree with the last reflog entry; reflog entries chain.
    all_refs = store.all_refs()
    report.refs = len(all_refs)
    for name, target in all_refs:
        if store.get_commit(target) is None:
            problems.append(Problem("ref", target, name, "points at a missing commit", ProblemCode.REF_TARGET_MISSING))
        log = store.reflog(name, 1)
        if log and log[0].new != target:
            problems.append(Problem("ref", target, name,
                                    f"does not match its last recorded move (to "
                                    f"{str(log[0].new)[:12]})", ProblemCode.REF_REFLOG_MISMATCH))
    last_new: dict[str, str | None] = {}
    for entry in reversed(store.reflog()):
        if entry.ref in last_new and last_new[entry.ref] != entry.old:
            problems.append(Problem("reflog", str(entry.seq), entry.ref,
                                    "entry does not continue from the previous move", ProblemCode.REFLOG_BROKEN))
        last_new[entry.ref] = entry.new

    return report
