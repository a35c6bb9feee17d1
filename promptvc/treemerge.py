"""Branch merges: merge base, tree-level three-way merge, conflict state.

The text-level merge (line merge, then a finer merge inside conflicting lines) is in
:mod:`promptvc.textmerge`; this module decides per file what to merge, writes the working
files, and records the merge commit (two parents; the version rows of merged files record
both parents) or the conflict state that `pvc merge --continue` / `--abort` finish.

May import: errors, objects (hashing) at the top; history, textmerge and repo (for `Change`)
inside functions. It reads no clock: its commits and ref moves are dated by the commit writer
and `Repo.move_ref`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import DirtyWorkingTree, MergeError, RefConflict
from .objects import sha256

# every state key a merge in progress writes (merge --continue / --abort clear them all)
STATE_KEYS = ("MERGE_HEAD", "MERGE_MSG", "MERGE_CONFLICTS", "ORIG_HEAD", "MERGE_TRACKED",
              "MERGE_TOUCHED", "MERGE_NAME", "MERGE_PARENT2")


@dataclass
class Conflict:
    path: str
    kind: str  # content | add/add | modify/delete | delete/modify | rename/rename
    detail: str = ""


@dataclass
class TreeMerge:
    contents: dict[str, bytes] = field(default_factory=dict)  # path -> merged content
    conflicts: list[Conflict] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)  # new path -> old path (vs ours)
    parent2: dict[str, str] = field(default_factory=dict)  # path -> theirs' version id
    merged: list[str] = field(default_factory=list)  # paths merged from both sides


@dataclass
class MergeOutcome:
    kind: str  # up-to-date | fast-forward | merged | conflicts
    commit: str | None
    base: str | None
    conflicts: list[Conflict] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)


# -- merge base -----------------------------------------------------------------------------
def merge_bases(repo, a: str, b: str) -> list[str]:
    """The best common ancestors of A and B (none is an ancestor of another); the walk stops
    at them (generation numbers, promptvc/history.py)."""
    from .history import merge_bases as bases

    return bases(repo.store, a, b)


def _renames_since(repo, base: str | None, tip: str) -> dict[str, str]:
    """old path -> new path for renames recorded on the way from BASE to TIP."""
    from .history import walk

    rows = list(walk(repo.store, [tip], [base] if base else []))
    rows.sort(key=lambda r: r.generation)
    mapping: dict[str, str] = {}
    for row in rows:
        for ch in repo.store.changes_of(row.id):
            if ch.status == "R" and ch.old_path:
                for k, v in list(mapping.items()):
                    if v == ch.old_path:
                        mapping[k] = ch.path
                        break
                else:
                    mapping[ch.old_path] = ch.path
    return mapping


def _content_renames(base: dict[str, str], side: dict[str, str], known: dict[str, str]) -> dict[str, str]:
    """Unrecorded renames: a base path gone on SIDE whose exact content appears at a new path."""
    out = dict(known)
    gone = {p: v for p, v in base.items() if p not in side and p not in out}
    new_by_content: dict[str, list[str]] = {}
    targets = set(out.values())
    for p, v in side.items():
        if p not in base and p not in targets:
            new_by_content.setdefault(v, []).append(p)
    for p, v in sorted(gone.items()):
        if new_by_content.get(v):
            out[p] = new_by_content[v].pop(0)
    # keep only renames whose target exists on the side
    return {o: n for o, n in out.items() if n in side and o not in side}


# -- tree merge -----------------------------------------------------------------------------
def merge_trees(repo, base_tree: dict[str, str], ours: dict[str, str], theirs: dict[str, str],
                ours_renames: dict[str, str], theirs_renames: dict[str, str], *,
                ours_label: str, theirs_label: str, diff3: bool = False,
                extra: dict[str, bytes] | None = None) -> TreeMerge:
    """Merge three trees. EXTRA holds contents not in the store (a virtual merge base)."""
    from .textmerge import merge_texts

    extra = extra or {}

    def read(vid: str) -> bytes:
        return extra[vid] if vid in extra else repo.versions.get(vid)

    out = TreeMerge()
    ro = _content_renames(base_tree, ours, ours_renames)
    rt = _content_renames(base_tree, theirs, theirs_renames)
    result: dict[str, bytes | str] = {}  # path -> version id (str) or content (bytes)
    handled_ours: set[str] = set()
    handled_theirs: set[str] = set()

    def put(path: str, value: bytes | str) -> None:
        result[path] = value

    for bp, bvid in sorted(base_tree.items()):
        op = ro.get(bp, bp if bp in ours else None)
        tp = rt.get(bp, bp if bp in theirs else None)
        ovid = ours.get(op) if op else None
        tvid = theirs.get(tp) if tp else None
        if op:
            handled_ours.add(op)
        if tp:
            handled_theirs.add(tp)
        if ovid is None and tvid is None:
            continue  # deleted on both sides
        if ovid is None:
            assert tp is not None and tvid is not None  # a version id comes with its path
            if tvid == bvid:
                continue  # deleted by us, untouched by them
            out.conflicts.append(Conflict(tp, "modify/delete",
                                          f"deleted in {ours_label} and modified in {theirs_label}"))
            put(tp, tvid)
            continue
        assert op is not None
        if tvid is None:
            if ovid == bvid:
                continue  # deleted by them, untouched by us
            out.conflicts.append(Conflict(op, "delete/modify",
                                          f"deleted in {theirs_label} and modified in {ours_label}"))
            put(op, ovid)
            continue
        # both sides still have it, maybe under new names
        assert tp is not None
        if op != bp and tp != bp and op != tp:
            out.conflicts.append(Conflict(op, "rename/rename",
                                          f"renamed to {op} in {ours_label} and to {tp} in "
                                          f"{theirs_label}"))
            put(op, ovid)
            put(tp, tvid)
            continue
        dest = tp if op == bp else op
        if dest != op:
            out.renames[dest] = op
        if ovid == tvid or tvid == bvid:
            put(dest, ovid)
        elif ovid == bvid:
            put(dest, tvid)
            out.parent2[dest] = tvid
        else:
            res = merge_texts(read(bvid), read(ovid), read(tvid), ours_label=ours_label,
                              theirs_label=theirs_label, base_label="base", diff3=diff3)
            put(dest, res.content)
            out.parent2[dest] = tvid
            out.merged.append(dest)
            if res.conflicts:
                out.conflicts.append(Conflict(dest, "content", f"{res.conflicts} conflicting hunk(s)"))
    # paths new on either side
    for p, ovid in sorted(ours.items()):
        if p in handled_ours or p in base_tree:
            continue
        tvid = theirs.get(p) if p not in handled_theirs and p not in base_tree else None
        if tvid is None or tvid == ovid:
            put(p, ovid)
            if tvid is not None:
                handled_theirs.add(p)
            continue
        handled_theirs.add(p)
        res = merge_texts(b"", read(ovid), read(tvid), ours_label=ours_label,
                          theirs_label=theirs_label, base_label="base", diff3=diff3)
        put(p, res.content)
        out.parent2[p] = tvid
        out.merged.append(p)
        if res.conflicts:
            out.conflicts.append(Conflict(p, "add/add", f"added differently in {ours_label} and "
                                                         f"{theirs_label}"))
    for p, tvid in sorted(theirs.items()):
        if p in handled_theirs or p in base_tree:
            continue
        if p in result:
            continue
        put(p, tvid)
        out.parent2[p] = tvid
    for p, value in result.items():
        out.contents[p] = read(value) if isinstance(value, str) else value
    return out


# -- the merge command ------------------------------------------------------------------------
def merge(repo, rev: str, *, message: str | None = None, no_ff: bool = False,
          diff3: bool = False, author: str | None = None, date: str | None = None,
          write_conflicts: bool = True) -> MergeOutcome:
    """Merge REV into the current branch. With WRITE_CONFLICTS false, a merge that would
    conflict changes nothing and only reports the conflicts (the daemon uses this).

    The whole merge runs under the repository's write lock, so no commit can land between
    reading HEAD and moving it; its working-file journal is settled after that transaction
    commits."""
    with repo.updating_work():
        return _merge_locked(repo, rev, message=message, no_ff=no_ff, diff3=diff3,
                             author=author, date=date, write_conflicts=write_conflicts)


def _merge_locked(repo, rev: str, *, message: str | None, no_ff: bool, diff3: bool,
                  author: str | None, date: str | None, write_conflicts: bool) -> MergeOutcome:
    if repo.store.get_state("MERGE_HEAD"):
        raise MergeError("a merge is already in progress",
                         hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
    head = repo.head()
    if head is None:
        raise MergeError("the current branch has no commits yet; nothing to merge into",
                         hint="make a first commit, or `pvc switch` to the branch you want")
    theirs = repo.resolve(rev)
    changes, head_tree = repo.working_changes()
    if changes:
        listing = ", ".join(sorted({c.path for c in changes})[:5])
        raise DirtyWorkingTree(
            f"cannot merge with uncommitted changes in {listing}",
            hint="commit them (`pvc commit -m ...`) or discard them (`pvc restore PATH`) first",
        )
    from .history import is_ancestor

    if is_ancestor(repo.store, theirs, head):
        return MergeOutcome("up-to-date", head, theirs)
    author = repo.author(author)
    ref = repo.head_ref()
    branch = repo.current_branch() or "HEAD"
    if is_ancestor(repo.store, head, theirs) and not no_ff:
        with repo.updating_work():
            new_tree = repo.tree(theirs)
            repo.checkout_trees(head_tree, new_tree, [], what=f"merging {rev}")
            try:
                repo.move_ref(ref, head, theirs, f"merge {rev}: Fast-forward", who=author,
                              at=date)
            except RefConflict:
                raise MergeError(f"{branch} moved during the merge; nothing was changed",
                                 hint="run the merge again") from None
        return MergeOutcome("fast-forward", theirs, head)
    bases = merge_bases(repo, head, theirs)
    base_tree, base_id, extra = _virtual_base(repo, bases, diff3)
    ours_tree, theirs_tree = head_tree, repo.tree(theirs)
    tm = merge_trees(
        repo, base_tree, ours_tree, theirs_tree,
        _renames_since(repo, base_id, head) if base_id else {},
        _renames_since(repo, base_id, theirs) if base_id else {},
        ours_label="HEAD", theirs_label=rev, diff3=diff3, extra=extra,
    )
    message = message or f"Merge branch '{rev}' into {branch}"
    if tm.conflicts and not write_conflicts:
        return MergeOutcome("conflicts", None, base_id, tm.conflicts, tm.merged)
    new_paths = set(tm.contents)
    touched = sorted({p for p in new_paths | set(ours_tree)
                      if p not in new_paths or p not in ours_tree
                      or sha256(tm.contents[p]) != ours_tree[p]})
    tracked_before = sorted(repo.store.tracked())
    with repo.updating_work():
        # untracked files in the way?
        for p in touched:
            if p in new_paths and p not in ours_tree and repo.abspath(p).exists():
                data = repo.read_work_file(p)
                if data is not None and data != tm.contents[p]:
                    raise DirtyWorkingTree(f"the untracked file '{p}' would be overwritten by the merge",
                                           hint="move or remove it first")
        repo.apply_work({p: (ours_tree.get(p), tm.contents[p] if p in new_paths else None)
                         for p in touched}, "merge")
        for p in touched:
            if p in new_paths:
                repo.store.track(p)
            else:
                repo.store.untrack(p)
        if tm.conflicts:
            repo.store.set_state("MERGE_HEAD", theirs)
            repo.store.set_state("MERGE_NAME", rev)
            repo.store.set_state("MERGE_MSG", message)
            repo.store.set_state("ORIG_HEAD", head)
            repo.store.set_state("MERGE_CONFLICTS", "\n".join(c.path for c in tm.conflicts))
            repo.store.set_state("MERGE_TRACKED", json.dumps(tracked_before))
            repo.store.set_state("MERGE_TOUCHED", json.dumps(touched))
            repo.store.set_state("MERGE_PARENT2", json.dumps(tm.parent2))
            return MergeOutcome("conflicts", None, base_id, tm.conflicts, tm.merged)
        info = _commit_merge(repo, ours_tree, tm.contents, tm.renames, tm.parent2, theirs,
                             message, author, date)
    return MergeOutcome("merged", info.id, base_id, [], tm.merged)


def _virtual_base(repo, bases: list[str], diff3: bool = False
                  ) -> tuple[dict[str, str], str | None, dict[str, bytes]]:
    """One base tree: the merge base, or for criss-cross histories the bases merged together
    in memory (conflicts kept with their markers, as git's recursive strategy does).
    Returns (tree, base commit id for rename tracking, contents not in the store)."""
    if not bases:
        return {}, None, {}
    if len(bases) == 1:
        return repo.tree(bases[0]), bases[0], {}
    tree, extra = repo.tree(bases[0]), {}
    current = bases[0]
    for other in bases[1:]:
        inner = merge_bases(repo, current, other)
        inner_tree, _, inner_extra = _virtual_base(repo, inner, diff3)
        extra.update(inner_extra)
        tm = merge_trees(repo, inner_tree, tree, repo.tree(other), {}, {},
                         ours_label="base1", theirs_label="base2", extra=extra)
        tree = {}
        for p, data in tm.contents.items():
            vid = sha256(data)
            tree[p] = vid
            if not repo.store.has_version(vid):
                extra[vid] = data
        current = other
    return tree, bases[-1], extra


def _commit_merge(repo, ours_tree: dict[str, str], contents: dict[str, bytes],
                  renames: dict[str, str], parent2: dict[str, str], theirs: str, message: str,
                  author: str, date: str | None):
    from .repo import Change

    changes = []
    for p in sorted(contents):
        digest = sha256(contents[p])
        if p in ours_tree:
            if ours_tree[p] != digest:
                changes.append(Change("M", p, old_id=ours_tree[p], new_id=digest))
        elif renames.get(p) in ours_tree and renames[p] not in contents:
            old = renames[p]
            changes.append(Change("R", p, old_path=old, old_id=ours_tree[old], new_id=digest))
        else:
            changes.append(Change("A", p, new_id=digest))
    renamed_from = {c.old_path for c in changes if c.status == "R"}
    for p in sorted(ours_tree):
        if p not in contents and p not in renamed_from:
            changes.append(Change("D", p, old_id=ours_tree[p]))
    info = repo.write_commit(changes, ours_tree, message, author, date, parent2=theirs,
                              contents={p: contents[p] for p in contents},
                              parent2_versions=parent2, update_tracked=False)
    for p in contents:
        repo.store.track(p)
        repo.cache_stat(p, contents[p])
    for p in ours_tree:
        if p not in contents:
            repo.store.untrack(p)
    return info


# -- continue / abort ---------------------------------------------------------------------
def unresolved(repo) -> list[str]:
    """Conflicted files that still hold conflict markers."""
    from .textmerge import has_conflict_markers

    raw = repo.store.get_state("MERGE_CONFLICTS") or ""
    out = []
    for p in [x for x in raw.split("\n") if x]:
        data = repo.read_work_file(p)
        if data is not None and has_conflict_markers(data):
            out.append(p)
    return out


def merge_continue(repo, message: str | None = None, author: str | None = None,
                   date: str | None = None):
    theirs = repo.store.get_state("MERGE_HEAD")
    if not theirs:
        raise MergeError("there is no merge in progress", hint="start one with `pvc merge BRANCH`")
    left = unresolved(repo)
    if left:
        raise MergeError(
            f"conflict markers remain in {', '.join(left)}",
            hint="edit the files to resolve every <<<<<<< ... >>>>>>> block, then run "
                 "`pvc merge --continue` again",
        )
    message = message or repo.store.get_state("MERGE_MSG") or "Merge"
    parent2 = json.loads(repo.store.get_state("MERGE_PARENT2") or "{}")
    author = repo.author(author)
    with repo.store.transaction():
        changes, head_tree = repo.working_changes()
        info = repo.write_commit(changes, head_tree, message, author, date, parent2=theirs,
                                  parent2_versions=parent2)
        for key in STATE_KEYS:
            repo.store.set_state(key, None)
    return info


def merge_abort(repo) -> None:
    orig = repo.store.get_state("ORIG_HEAD")
    if not repo.store.get_state("MERGE_HEAD") or not orig:
        raise MergeError("there is no merge in progress", hint="nothing to abort")
    tree = repo.tree(orig)
    touched = json.loads(repo.store.get_state("MERGE_TOUCHED") or "[]")
    tracked_before = json.loads(repo.store.get_state("MERGE_TRACKED") or "[]")
    with repo.updating_work():
        plan = {}
        for p in touched:
            data = repo.read_work_bytes(p)
            plan[p] = (sha256(data) if data is not None else None,
                       repo.versions.get(tree[p]) if p in tree else None)
        repo.apply_work(plan, "merge --abort", forward=True)
        current = set(repo.store.tracked())
        for p in current - set(tracked_before):
            repo.store.untrack(p)
        for p in set(tracked_before) - current:
            repo.store.track(p)
        for key in STATE_KEYS:
            repo.store.set_state(key, None)
