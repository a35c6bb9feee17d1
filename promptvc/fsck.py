"""`pvc fsck`: recompute every hash, walk every chain, report every problem.

Like `hg verify`, it collects all problems instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import delta
from .errors import IntegrityError
from .objects import EMPTY_TREE, commit_id, parse_manifest, sha256


@dataclass(frozen=True)
class Problem:
    kind: str  # version | tree | commit | ref | reflog | database
    object: str
    path: str | None
    message: str

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


def check(repo, progress=None) -> Report:
    store, vs = repo.store, repo.versions
    problems: list[Problem] = []
    report = Report(problems)

    for line in store.integrity_check():
        problems.append(Problem("database", repo.store.path, None, f"integrity_check: {line}"))

    # 1. versions: every row rebuilt from its own stored bytes and checked.
    good: dict[str, bytes] = {}
    bad: set[str] = set()
    meta: dict[str, tuple[int, int]] = {}
    rows = list(store.iter_versions())
    by_id = {r.id: r for r in rows}
    report.versions = len(rows)
    # order so that a diff's base comes before it
    ordered, seen = [], set()
    for r in rows:
        stack = [r]
        while stack:
            cur = stack[-1]
            if cur.id in seen:
                stack.pop()
                continue
            base = by_id.get(cur.parent_version_id) if cur.storage == "diff" else None
            if base is not None and base.id not in seen:
                stack.append(base)
                continue
            seen.add(cur.id)
            ordered.append(cur)
            stack.pop()
    # keep memory bounded: drop a text once no later row needs it
    last_use: dict[str, int] = {}
    for i, r in enumerate(ordered):
        if r.storage == "diff" and r.parent_version_id:
            last_use[r.parent_version_id] = i
    for i, r in enumerate(ordered):
        if progress:
            progress(i, len(ordered))
        label = r.path or r.kind
        try:
            data = vs.decode_row(r)
        except IntegrityError:
            problems.append(Problem("version", r.id, label, "stored data does not decompress"))
            bad.add(r.id)
            continue
        if r.storage == "snapshot":
            content = data
            chain = (0, 0)
            if r.chain_len != 0 or r.chain_bytes != 0:
                problems.append(Problem("version", r.id, label,
                                        "snapshot with a non-zero chain length or size"))
        else:
            base_id = r.parent_version_id
            if base_id is None or base_id not in by_id:
                problems.append(Problem("version", r.id, label,
                                        f"diff base {str(base_id)[:12]} is missing"))
                bad.add(r.id)
                continue
            if base_id in bad:
                problems.append(Problem("version", r.id, label,
                                        f"unreadable: its diff base {base_id[:12]} is damaged"))
                bad.add(r.id)
                continue
            base = good.get(base_id)
            if base is None:
                try:
                    base = vs.get(base_id)
                except IntegrityError:
                    bad.add(r.id)
                    problems.append(Problem("version", r.id, label,
                                            f"unreadable: its diff base {base_id[:12]} is damaged"))
                    continue
            try:
                content = delta.apply_delta(base, data)
            except delta.DeltaError as exc:
                problems.append(Problem("version", r.id, label, f"diff does not apply: {exc}"))
                bad.add(r.id)
                continue
            p_len, p_bytes = meta.get(base_id, (0, 0))
            chain = (p_len + 1, p_bytes + len(data))
            if (r.chain_len, r.chain_bytes) != chain:
                problems.append(Problem(
                    "version", r.id, label,
                    f"chain bookkeeping is wrong: stored length {r.chain_len} / bytes "
                    f"{r.chain_bytes}, actual {chain[0]} / {chain[1]}"))
        if sha256(content) != r.id:
            problems.append(Problem("version", r.id, label,
                                    "content does not match its SHA-256"))
            bad.add(r.id)
            continue
        if len(content) != r.size:
            problems.append(Problem("version", r.id, label,
                                    f"size is recorded as {r.size}, content has {len(content)}"))
        meta[r.id] = chain
        good[r.id] = content
        for drop in [k for k in (r.parent_version_id,) if k and last_use.get(k, -1) <= i]:
            good.pop(drop, None)
        if last_use.get(r.id, -1) <= i:
            good.pop(r.id, None)

    # 2. commits: id recomputed, tree readable, parents present, change index consistent.
    commits = {c.id: c for c in store.iter_commits()}
    report.commits = len(commits)
    trees: dict[str, dict[str, str]] = {}

    def tree_of(c) -> dict[str, str] | None:
        if c.tree_id in trees:
            return trees[c.tree_id]
        if c.tree_id == EMPTY_TREE:
            trees[c.tree_id] = {}
            return {}
        if c.tree_id in bad or c.tree_id not in by_id:
            return None
        try:
            t = parse_manifest(vs.get(c.tree_id))
        except (IntegrityError, UnicodeDecodeError):
            return None
        trees[c.tree_id] = t
        return t

    for c in commits.values():
        expect = commit_id(c.tree_id, c.parents, c.author, c.committed_at, c.message)
        if expect != c.id:
            problems.append(Problem("commit", c.id, None,
                                    "id does not match its content (tree, parents, author, date "
                                    "or message was changed)"))
        for p in c.parents:
            if p not in commits:
                problems.append(Problem("commit", c.id, None, f"parent {p[:12]} is missing"))
        tree = tree_of(c)
        if tree is None:
            problems.append(Problem("tree", c.tree_id, None,
                                    f"tree of commit {c.id[:12]} is missing or damaged"))
            continue
        for path, vid in tree.items():
            if vid not in by_id:
                problems.append(Problem("tree", c.tree_id, path,
                                        f"commit {c.id[:12]} names missing version {vid[:12]}"))
        gen = 1 + max((commits[p].generation for p in c.parents if p in commits), default=0)
        if c.generation != gen:
            problems.append(Problem("commit", c.id, None,
                                    f"generation is {c.generation}, expected {gen}"))
        parent_tree: dict[str, str] | None = {}
        if c.parent1 and c.parent1 in commits:
            parent_tree = tree_of(commits[c.parent1])
            if parent_tree is None:
                continue  # the parent's tree is reported already; nothing to compare with
        expected = {(p, vid) for p, vid in tree.items() if parent_tree.get(p) != vid}
        expected |= {(p, None) for p in parent_tree if p not in tree}
        recorded = set()
        for ch in store.changes_of(c.id):
            recorded.add((ch.path, ch.version_id))
            if ch.old_path and ch.old_path not in tree:  # the old path may be re-created
                recorded.add((ch.old_path, None))
        if c.parent1 and c.parent1 not in commits:
            continue
        if recorded != expected:
            problems.append(Problem("commit", c.id, None,
                                    "its change index does not match its tree"))

    # 3. refs: point at commits, agree with the last reflog entry; reflog entries chain.
    all_refs = store.all_refs()
    report.refs = len(all_refs)
    for name, target in all_refs:
        if target not in commits:
            problems.append(Problem("ref", target, name, "points at a missing commit"))
        log = store.reflog(name, 1)
        if log and log[0].new != target:
            problems.append(Problem("ref", target, name,
                                    f"does not match its last recorded move (to "
                                    f"{str(log[0].new)[:12]})"))
    last_new: dict[str, str | None] = {}
    for entry in reversed(store.reflog()):
        if entry.ref in last_new and last_new[entry.ref] != entry.old:
            problems.append(Problem("reflog", str(entry.seq), entry.ref,
                                    "entry does not continue from the previous move"))
        last_new[entry.ref] = entry.new

    # 4. the search index (derived data): consistent with the versions it names
    from .search import check as check_search

    for obj, path, message in check_search(repo):
        problems.append(Problem("search", obj, path or None, message))
    return report
