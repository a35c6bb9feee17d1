"""Branch, tag and checkout operations: create and delete branches and tags, switch, restore.

Each moves a ref through `Repo.move_ref` (compare-and-swap, logged in the reflog) and, for
switch and restore, updates the working files through the journal (`Repo.updating_work`,
`Repo.apply_work`). `Repo`'s methods of the same names call these.

May import: refs, paths, objects, errors, history, store rows, worktree, and repo (for
`Repo`; repo imports this module only inside its methods).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from . import refs as R
from .errors import DirtyWorkingTree, PathError, RefError
from .paths import check_path
from .objects import sha256
from .store import TrackedRow
from .worktree import Change, under
from .repo import SHORT, Repo


def create_branch(repo: Repo, name: str, start: str | None = None) -> str:
    R.check_ref_name(name)
    if repo.store.get_ref(R.HEADS + name):
        raise RefError(f"a branch named '{name}' already exists",
                       hint=f"switch to it with `pvc switch {name}`, or pick another name")
    cid = repo.resolve(start or "HEAD")
    repo.move_ref(R.HEADS + name, None, cid, f"branch: created from {start or 'HEAD'}")
    return cid


def check_deletable(repo: Repo, name: str, force: bool, anyway: str = "delete it anyway") -> str:
    """The head of branch NAME, if it may be deleted: not current, merged unless FORCE."""
    target = repo.store.get_ref(R.HEADS + name)
    if target is None:
        raise RefError(f"branch '{name}' not found", hint="see `pvc branch` for the list")
    if repo.current_branch() == name:
        raise RefError(f"cannot delete branch '{name}': it is the current branch",
                       hint="switch to another branch first")
    head = repo.head()
    from .history import is_ancestor

    if not force and (head is None or not is_ancestor(repo.store, target, head)):
        raise RefError(
            f"branch '{name}' is not fully merged into {repo.current_branch()}",
            hint=f"merge it first, or {anyway} with `pvc branch -D {name}`",
        )
    return target


def delete_branch(repo: Repo, name: str, force: bool = False) -> str:
    target = repo.check_deletable(name, force)
    repo.move_ref(R.HEADS + name, target, None, "branch: deleted")
    return target


def switch(repo: Repo, name: str, create: bool = False) -> str:
    """Make NAME the current branch and update the working files."""
    if repo.store.get_state("MERGE_HEAD"):
        raise DirtyWorkingTree("a merge is in progress",
                               hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
    if not name:
        R.check_ref_name(name)
    if create:
        repo.create_branch(name)
    ref = R.HEADS + name
    target = repo.store.get_ref(ref)
    if target is None:
        # like git: a branch that exists on exactly one remote is created from it
        found = [t for n, t in repo.store.list_refs(R.REMOTES) if n.split("/", 3)[-1] == name]
        if len(found) == 1:
            repo.move_ref(ref, None, found[0], "branch: created from remote-tracking branch")
            target = found[0]
    if target is None:
        raise RefError(f"branch '{name}' not found",
                       hint=f"create it with `pvc branch {name}` or `pvc switch -c {name}`")
    with repo.updating_work():
        changes, head_tree = repo.working_changes()
        new_tree = repo.tree(target)
        repo.checkout_trees(head_tree, new_tree, changes, what=f"switching to '{name}'")
        repo.store.set_state("HEAD", ref)
    return target


def checkout_trees(repo: Repo, head_tree: dict[str, str], new_tree: dict[str, str],
              changes: list[Change], what: str) -> None:
    """Replace HEAD_TREE's files with NEW_TREE's, keeping local changes that don't clash."""
    dirty = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
    touched = {p for p in set(head_tree) | set(new_tree) if head_tree.get(p) != new_tree.get(p)}
    clash = sorted(dirty & touched)
    if clash:
        listing = ", ".join(clash[:5]) + (" ..." if len(clash) > 5 else "")
        raise DirtyWorkingTree(
            f"your local changes to {listing} would be overwritten by {what}",
            hint="commit them (`pvc commit -am ...`) or discard them "
                 "(`pvc restore PATH`) first",
        )
    tracked = repo.store.tracked()
    for p in sorted(touched):
        if p in new_tree and p not in head_tree and p not in tracked and repo.abspath(p).exists():
            data = repo.read_work_file(p)
            if data is not None and sha256(data) != new_tree[p]:
                raise DirtyWorkingTree(
                    f"the untracked file '{p}' would be overwritten by {what}",
                    hint="move or remove it first",
                )
    for p in new_tree:  # every name checked before any file is written
        check_path(p)
    repo.apply_work({p: (head_tree.get(p),
                         repo.versions.get(new_tree[p]) if p in new_tree else None)
                     for p in touched}, what)
    keep = {p: t for p, t in tracked.items() if p not in head_tree and p not in touched}
    rows = [TrackedRow(p, None, None, None, None) for p in new_tree]
    rows += [t for p, t in keep.items() if p not in new_tree]
    repo.store.replace_tracked(rows)


def restore(repo: Repo, user_paths: Iterable[str], source: str | None = None,
            cwd: Path | None = None) -> list[str]:
    """Overwrite working files with their content at SOURCE (default HEAD)."""
    cid = repo.resolve(source or "HEAD")
    tree = repo.tree(cid)
    out = []
    for raw in user_paths:
        rel = repo.rel(raw, cwd)
        matches = [p for p in tree if under(p, rel)]
        if not matches:
            raise PathError(f"'{raw}' does not exist in {source or 'HEAD'}",
                            hint="check the path with `pvc show REV`")
        out.extend(matches)
    with repo.updating_work():
        plan: dict[str, tuple[str | None, bytes | None]] = {}
        for p in out:
            data = repo.read_work_bytes(p)
            plan[p] = (sha256(data) if data is not None else None, repo.versions.get(tree[p]))
        repo.apply_work(plan, "restore", forward=True)
        for p in out:
            repo.store.track(p)
    return out


def tag(repo: Repo, name: str, rev: str | None = None, force: bool = False,
        why: str | None = None) -> tuple[str | None, str]:
    """Create or (with FORCE) move tag NAME to REV; WHY is added to the reflog entry."""
    R.check_ref_name(name, "tag")
    ref = R.TAGS + name
    cid = repo.resolve(rev or "HEAD")
    old = repo.store.get_ref(ref)
    if old is not None and not force:
        raise RefError(f"tag '{name}' already exists (at {old[:SHORT]})",
                       hint=f"move it with `pvc tag -f {name} {rev or 'HEAD'}`")
    if old == cid:
        return old, cid  # idempotent: nothing moves, nothing is logged
    action = f"tag: {'moved' if old else 'created'} at {rev or 'HEAD'}"
    repo.move_ref(ref, old, cid, f"{action} ({why})" if why else action)
    return old, cid


def delete_tag(repo: Repo, name: str) -> str:
    ref = R.TAGS + name
    old = repo.store.get_ref(ref)
    if old is None:
        raise RefError(f"tag '{name}' not found", hint="see `pvc tag` for the list")
    repo.move_ref(ref, old, None, "tag: deleted")
    return old
