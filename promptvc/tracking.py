"""Starting and stopping tracking files: add, rm and mv.

These change the tracked set (and for rm and mv the working files) of a repository; they
never touch history. `Repo.add`, `Repo.rm` and `Repo.mv` call them.

May import: refs, paths, objects, errors, store rows, worktree, and repo (for `Repo`;
repo imports this module only inside its methods).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import DirtyWorkingTree, PathError
from .paths import check_path
from .objects import sha256
from .worktree import is_binary, non_utf8_name, utf8_ok
from .repo import Repo


def add(repo: Repo, user_paths: Iterable[str], cwd: Path | None = None) -> list[str]:
    """Start tracking files (folders: every prompt-like file under them)."""
    tracked = repo.store.tracked()
    head_tree = repo.tree(repo.head())
    pats = repo.ignore_patterns()
    to_add: list[str] = []
    for raw in user_paths:
        rel = repo.rel(raw, cwd)
        p = repo.abspath(rel)
        if p.is_symlink():
            raise PathError(f"'{raw}' is a symbolic link; pvc tracks regular files only",
                            hint="add the file the link points to")
        if p.is_dir():
            found = [f for f in repo.walk_files(rel)
                     if repo.matches_prompt_globs(f) and not repo.is_ignored(f, pats)]
            to_add.extend(f for f in found if f not in tracked)
            continue
        if not p.exists():
            if rel in tracked or rel in head_tree:
                continue
            raise PathError(f"'{raw}' did not match any file",
                            hint="check the path; `pvc status` lists untracked prompt files")
        if not p.is_file():
            raise PathError(f"'{raw}' is not a regular file", hint="give a text file")
        to_add.append(rel)
    for rel in to_add:
        if not utf8_ok(rel):
            raise PathError(non_utf8_name(rel), hint="rename it; pvc stores file names as UTF-8")
        check_path(rel)  # found under a folder: the same rule as a name typed by the user
        data = repo.abspath(rel).read_bytes()
        problem = is_binary(data)
        if problem:
            raise PathError(f"cannot add '{rel}': {problem}",
                            hint="pvc versions text prompts only; leave this file out")
    added = [r for r in dict.fromkeys(to_add) if r not in tracked]
    check_unicode_names(added, set(tracked) | set(head_tree))
    with repo.store.transaction():
        for rel in added:
            repo.store.track(rel)
    return added


def check_unicode_names(new: list[str], known: set[str]) -> None:
    """Refuse two names that differ only in Unicode normalization (NFC vs NFD): they are
    one file on macOS and Windows and would fight in every clone there."""
    import unicodedata

    seen = {unicodedata.normalize("NFC", k): k for k in known}
    for rel in new:
        nfc = unicodedata.normalize("NFC", rel)
        other = seen.get(nfc)
        if other is not None and other != rel:
            raise PathError(
                f"cannot add '{rel}': tracked '{other}' has the same name in another Unicode "
                "normalization (NFC/NFD)",
                hint="rename one of the two files",
            )
        seen[nfc] = rel


def rm(repo: Repo, user_paths: Iterable[str], cached: bool = False, force: bool = False,
       cwd: Path | None = None) -> list[str]:
    tracked = repo.store.tracked()
    head_tree = repo.tree(repo.head())
    rels = []
    for raw in user_paths:
        rel = repo.rel(raw, cwd)
        if rel not in tracked:
            raise PathError(f"'{raw}' is not tracked by pvc",
                            hint="see `pvc status` for tracked files")
        rels.append(rel)
    if not cached and not force:
        for rel in rels:
            data = repo.read_work_file(rel)
            if data is not None and sha256(data) != head_tree.get(rel):
                raise DirtyWorkingTree(
                    f"'{rel}' has changes that are not committed",
                    hint="commit them first, use --cached to keep the file, or -f to delete it",
                )
    with repo.store.transaction():
        for rel in rels:
            repo.store.untrack(rel)
    if not cached:
        for rel in rels:
            try:
                repo.abspath(rel).unlink()
            except FileNotFoundError:
                pass
    return rels


def mv(repo: Repo, old_raw: str, new_raw: str, cwd: Path | None = None) -> tuple[str, str]:
    old, new = repo.rel(old_raw, cwd), repo.rel(new_raw, cwd)
    tracked = repo.store.tracked()
    if old not in tracked:
        raise PathError(f"'{old_raw}' is not tracked by pvc", hint="add it first with `pvc add`")
    dst = repo.abspath(new)
    if dst.is_dir():
        new = f"{new}/{old.rsplit('/', 1)[-1]}" if new else old.rsplit("/", 1)[-1]
        dst = repo.abspath(new)
    same_file = old.lower() == new.lower() and old != new  # case-only rename
    if (dst.exists() and not same_file) or new in tracked:
        raise PathError(f"cannot move '{old}' to '{new}': the destination exists",
                        hint="remove or rename the destination first")
    src = repo.abspath(old)
    if not src.exists():
        raise PathError(f"cannot move '{old}': the file is missing from the working folder",
                        hint=f"restore it with `pvc restore {old}` first")
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    origin = tracked[old].origin or old
    with repo.store.transaction():
        repo.store.untrack(old)
        repo.store.track(new, origin=origin)
    return old, new
