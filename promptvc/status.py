"""The working folder against HEAD: `working_changes` and `pvc status`.

``working_changes`` hashes each tracked file (through the stat cache, so an unchanged file
is not read) and lists what was added, modified, deleted or renamed since HEAD; ``status``
adds the untracked prompt files and the state of a merge in progress.

Layer: above ``promptvc/repo.py`` (called from `Repo.working_changes` / `Repo.status`);
imports ``worktree`` and, for a merge in progress, ``treemerge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from .worktree import Change, utf8_ok

if TYPE_CHECKING:
    from .repo import Repo


@dataclass
class Status:
    """What `pvc status` reports (``to_json`` is its --json form)."""

    branch: str | None
    head: str | None
    modified: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    conflicted: list[str] = field(default_factory=list)
    merging: str | None = None
    recovered: str | None = None  # what the journal did after an interrupted update

    @property
    def clean(self) -> bool:
        return not (self.modified or self.added or self.deleted or self.renamed or self.conflicted)

    def to_json(self) -> dict:
        return {
            "branch": self.branch, "head": self.head, "modified": self.modified,
            "added": self.added, "deleted": self.deleted,
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "untracked": self.untracked, "conflicted": self.conflicted,
            "merging": self.merging, "clean": self.clean,
            **({"recovered": self.recovered} if self.recovered else {}),
        }


def working_changes(repo: Repo, paths: Iterable[str] | None = None) -> tuple[list[Change], dict]:
    """Changes of tracked files in the working folder against HEAD, and HEAD's tree
    (only those under PATHS, when given)."""
    head_tree = repo.tree(repo.head())
    tracked = repo.store.tracked()
    select = None if paths is None else set(paths)

    def wanted(*names: str | None) -> bool:
        if select is None:
            return True
        return any(n is not None and (n in select or any(n.startswith(s + "/") for s in select if s) or "" in select)
                   for n in names)

    updates: list = []
    changes: list[Change] = []
    origins = {t.origin for t in tracked.values() if t.origin}
    for rel, row in sorted(tracked.items()):
        origin = row.origin if row.origin in head_tree and row.origin not in tracked else None
        if not wanted(rel, origin):
            continue
        digest = repo.files.hash_file(rel, row, updates)
        base_path = rel if rel in head_tree else origin
        base_id = head_tree.get(base_path) if base_path else None
        if digest is None:
            if base_id is not None and base_path is not None:
                changes.append(Change("D", base_path, old_id=base_id))
            continue
        if base_id is None:
            changes.append(Change("A", rel, new_id=digest))
        elif base_path != rel:
            changes.append(Change("R", rel, old_path=base_path, old_id=base_id, new_id=digest))
        elif digest != base_id:
            changes.append(Change("M", rel, old_id=base_id, new_id=digest))
    for rel, vid in sorted(head_tree.items()):
        if rel not in tracked and rel not in origins and wanted(rel):
            changes.append(Change("D", rel, old_id=vid))
    repo.files.flush_stat_cache(updates)
    return changes, head_tree

def status(repo: Repo, untracked: bool = True) -> Status:
    """The working folder's status; UNTRACKED also walks it for untracked prompt files."""
    changes, _ = repo.working_changes()
    st = Status(branch=repo.current_branch(), head=repo.head(),
                recovered=repo.store.get_state("WORK_RECOVERED"))
    for c in changes:
        if c.status == "M":
            st.modified.append(c.path)
        elif c.status == "A":
            st.added.append(c.path)
        elif c.status == "D":
            st.deleted.append(c.path)
        elif c.status == "R":
            st.renamed.append((c.old_path or "", c.path))
    if untracked:
        tracked = repo.store.tracked()
        pats = repo.ignore_patterns()
        st.untracked = sorted(
            rel for rel in repo.walk_files()
            if rel not in tracked and utf8_ok(rel) and repo.matches_prompt_globs(rel)
            and not repo.is_ignored(rel, pats)
        )
    st.merging = repo.store.get_state("MERGE_HEAD")
    if st.merging:
        from .treemerge import unresolved

        st.conflicted = unresolved(repo)
    return st
