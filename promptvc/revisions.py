"""Reading history: revisions (REV~N, REV^N, prefixes), log, tree and working-tree diffs, reflog.

Read-only: nothing here writes a row or a file. `Repo.resolve`, `Repo.log`, `Repo.diff`,
`Repo.diff_trees`, `Repo.tree_changes`, `Repo.reflog` and `Repo.merge_base` call these.

May import: refs, objects, errors, history, treemerge (merge bases), delta (diffs), store
rows, worktree, and repo (for `Repo`; repo imports this module only inside its methods).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from . import refs as R
from .errors import AmbiguousRevision, RefError, UnknownRevision
from .store import ReflogRow
from .worktree import Change, display, under, utf8_ok
from .repo import SHORT, CommitInfo, Repo


REV_SUFFIX = re.compile(r"^(.*?)((?:~\d*|\^\d?)+)$")


def resolve(repo: Repo, rev: str) -> str:
    """A commit id from REV: id, unique prefix (4+), branch, tag, remote ref, HEAD, X~N, X^N."""
    rev = rev.strip()
    if not rev:
        raise UnknownRevision("empty revision", hint="give a commit id, branch or tag")
    if not utf8_ok(rev):
        raise UnknownRevision(
            f"unknown revision '{display(rev)}'",
            hint="see `pvc log` for commit ids and `pvc branch` / `pvc tag` for names",
        )
    m = REV_SUFFIX.match(rev)
    if m and m.group(1):
        cid = repo.resolve(m.group(1))
        for op in re.findall(r"~\d*|\^\d?", m.group(2)):
            cid = step(repo, cid, op, rev)
        return cid
    if rev in ("HEAD", "@"):
        head = repo.head()
        if head is None:
            raise UnknownRevision(
                f"HEAD does not point at a commit yet (branch '{repo.current_branch()}' "
                "has no commits)",
                hint="make the first commit with `pvc commit -m MSG`",
            )
        return head
    for ref in (rev, R.HEADS + rev, R.TAGS + rev, R.REMOTES + rev):
        target = repo.store.get_ref(ref)
        if target:
            return target
    if re.fullmatch(r"[0-9a-f]{4,64}", rev):
        found = repo.store.commits_with_prefix(rev)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AmbiguousRevision(f"revision '{rev}' is ambiguous: several commits start "
                                    "with it", hint="give more characters of the id")
    raise UnknownRevision(
        f"unknown revision '{rev}'",
        hint="see `pvc log` for commit ids and `pvc branch` / `pvc tag` for names",
    )


def step(repo: Repo, cid: str, op: str, rev: str) -> str:
    digits = op[1:]
    if len(digits) > 9:
        raise UnknownRevision(f"revision '{rev}' goes past the first commit",
                              hint="use a smaller number")
    if op.startswith("~"):
        count = int(digits or 1)
        if count >= repo.commit_row(cid).generation:
            raise UnknownRevision(f"revision '{rev}' goes past the first commit",
                                  hint="use a smaller number")
        for _ in range(count):
            row = repo.commit_row(cid)
            if not row.parent1:
                raise UnknownRevision(f"revision '{rev}' goes past the first commit",
                                      hint="use a smaller number")
            cid = row.parent1
        return cid
    which = int(op[1:] or 1)
    if which == 0:
        return cid
    parents = repo.commit_row(cid).parents
    if which > len(parents):
        raise UnknownRevision(f"revision '{rev}': commit {cid[:SHORT]} has no parent {which}",
                              hint="use ^1 or ^2 on merge commits only")
    return parents[which - 1]


def log(repo: Repo, rev: str | None = None, limit: int | None = None,
        paths: Iterable[str] | None = None, exclude: str | None = None) -> list[CommitInfo]:
    """Commits reachable from REV (default HEAD), newest first; with PATHS, only those
    that changed one of them (following renames)."""
    if rev is None and repo.head() is None:
        return []
    from .history import walk

    start = repo.resolve(rev or "HEAD")
    exclude_ids = [repo.resolve(exclude)] if exclude is not None else []
    if not paths:
        return [CommitInfo.from_row(r) for r in walk(repo.store, [start], exclude_ids, limit)]
    names = set(paths)
    frontier = set(names)
    while frontier:  # follow renames backwards
        found = {old for _, old in repo.store.renames_into(frontier)} - names
        names |= found
        frontier = found
    candidates = {r.id for r in repo.store.commits_touching(sorted(names))}
    if not candidates or (limit is not None and limit <= 0):
        return []
    out = []
    for row in walk(repo.store, [start], exclude_ids):  # stops once every candidate is seen
        if row.id in candidates:
            out.append(CommitInfo.from_row(row))
            candidates.discard(row.id)
            if not candidates or (limit is not None and len(out) >= limit):
                break
    return out


def tree_changes(repo: Repo, old: dict[str, str], new: dict[str, str]) -> list[Change]:
    """Changes between two trees; identical content that moved counts as a rename."""
    out: list[Change] = []
    deleted = {p: v for p, v in old.items() if p not in new}
    added = {p: v for p, v in new.items() if p not in old}
    by_content: dict[str, list[str]] = {}
    for p, v in deleted.items():
        by_content.setdefault(v, []).append(p)
    for p in sorted(added):
        v = added[p]
        if by_content.get(v):
            src = by_content[v].pop(0)
            del deleted[src]
            out.append(Change("R", p, old_path=src, old_id=v, new_id=v))
        else:
            out.append(Change("A", p, new_id=v))
    for p in sorted(deleted):
        out.append(Change("D", p, old_id=deleted[p]))
    for p in sorted(set(old) & set(new)):
        if old[p] != new[p]:
            out.append(Change("M", p, old_id=old[p], new_id=new[p]))
    return sorted(out, key=lambda c: c.path)


def diff_trees(repo: Repo, old: dict[str, str], new: dict[str, str],
               paths: Iterable[str] | None = None) -> bytes:
    from .delta import unified_diff

    sel = list(paths or [])
    parts = []
    for c in repo.tree_changes(old, new):
        if sel and not any(under(c.path, s) or (c.old_path and under(c.old_path, s)) for s in sel):
            continue
        a = repo.versions.get(c.old_id) if c.old_id else None
        b = repo.versions.get(c.new_id) if c.new_id else None
        parts.append(unified_diff(a, b, c.old_path or c.path, c.path))
    return b"".join(parts)


def diff(repo: Repo, rev_a: str | None = None, rev_b: str | None = None,
         paths: Iterable[str] | None = None, cwd: Path | None = None) -> bytes:
    """Unified diff: working tree vs HEAD (no rev), vs REV_A, or REV_A vs REV_B."""
    from .delta import unified_diff

    sel = [repo.rel(p, cwd) for p in (paths or [])]
    if rev_b is not None:
        return repo.diff_trees(repo.tree(repo.resolve(rev_a or "HEAD")),
                               repo.tree(repo.resolve(rev_b)), sel)
    if rev_a is not None:
        base_tree = repo.tree(repo.resolve(rev_a))
        tracked = repo.store.tracked()
        work = {}
        for rel in tracked:
            data = repo.read_work_file(rel)
            if data is not None:
                work[rel] = data
        parts = []
        for rel in sorted(set(base_tree) | set(work)):
            if sel and not any(under(rel, s) for s in sel):
                continue
            a = repo.versions.get(base_tree[rel]) if rel in base_tree else None
            b = work.get(rel)
            if a != b:
                parts.append(unified_diff(a, b, rel, rel))
        return b"".join(parts)
    changes, _ = repo.working_changes(sel or None)
    parts = []
    for c in changes:
        a = repo.versions.get(c.old_id) if c.old_id else None
        b = None if c.status == "D" else repo.read_work_file(c.path)
        parts.append(unified_diff(a, b, c.old_path or c.path, c.path))
    return b"".join(parts)


def reflog(repo: Repo, name: str | None = None, limit: int | None = None) -> list[ReflogRow]:
    ref = None
    if name:
        if name == "HEAD":
            ref = repo.head_ref()
        else:
            for cand in (name, R.HEADS + name, R.TAGS + name, R.REMOTES + name):
                if repo.store.get_ref(cand) or repo.store.reflog(cand, 1):
                    ref = cand
                    break
            else:
                raise RefError(f"no branch or tag named '{name}' has any history",
                               hint="see `pvc branch` and `pvc tag`")
    return repo.store.reflog(ref, limit)


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """A best common ancestor of A and B (the newest, for criss-cross histories)."""
    from .treemerge import merge_bases

    bases = merge_bases(repo, repo.resolve(a), repo.resolve(b))
    if not bases:
        return None
    return max(bases, key=lambda c: (repo.commit_row(c).generation, c))
