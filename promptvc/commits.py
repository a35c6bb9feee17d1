"""Writing commits: versions, the tree, the commit row, its change rows and the ref move.

`write_commit` is the one writer every path to a new commit goes through (`pvc commit`,
merges, importers, the daemon's automatic commits), inside the caller's transaction.
`commit_working_changes` commits what changed in the working folder; `commit_files`
commits contents given in memory. `Repo.commit_changes` and `Repo.commit_files` call these.
The rule of config check.on_commit (run `pvc check` on the files first, refuse on a
problem) lives here, in `commit_working_changes`, for every front end. `autosave` is the
daemon's automatic commit: tracking new files and committing them in one transaction.

May import: refs, paths, objects, errors, clock, config, store rows, worktree, and repo
(for `Repo` and `CommitInfo`; repo imports this module only inside its methods); inside
functions, prompts.check (the check), treemerge (concluding a merge), tracking (through
`Repo.add`), journal (the working-tree lock) and search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import refs as R
from .clock import now_iso
from .config import check_author
from .errors import CheckFailed, NothingToCommit, PathError, PvcError, RefConflict
from .objects import commit_id, manifest_bytes, sha256
from .paths import check_path
from .store import ChangeRow, CommitRow
from .worktree import Change, is_binary

from .repo import DEFAULT_BRANCH, CommitInfo, Repo


def commit_working_changes(repo: Repo, message: str | Callable[[], str | None],
                           author: str | None = None, paths: Iterable[str] | None = None,
                           cwd: Path | None = None, date: str | None = None, *,
                           conclude_merge: bool = True, check: bool | None = None
                           ) -> CommitInfo:
    """Commit changed tracked files (all, or those under PATHS). During a merge this
    concludes it, as in git, unless CONCLUDE_MERGE is False (automatic committers):
    then MergeError, checked inside the commit's transaction.

    CHECK runs `pvc check` on the files the commit would record first and refuses with
    CheckFailed on any problem; None follows config check.on_commit. MESSAGE may be a
    function returning the message (an editor): it is called after the check passed."""
    if paths is not None:
        paths = list(paths)
    select = None
    if paths:
        select = [repo.rel(p, cwd) for p in paths]
        known = set(repo.store.tracked()) | set(repo.tree(repo.head()))
        for raw, rel in zip(paths, select):
            if rel and rel not in known and not any(k.startswith(rel + "/") for k in known):
                raise PathError(f"'{raw}' is not tracked by pvc",
                                hint=f"start tracking it with `pvc add {raw}`")
    concluding = bool(repo.store.get_state("MERGE_HEAD")) and conclude_merge
    if callable(message) and not concluding and not repo.working_changes(select)[0]:
        raise _nothing_to_commit(select)  # before the editor opens, as git does
    run_check_before_commit(repo, paths, cwd, check)
    if callable(message):
        message = message() or ""
    if not message or not message.strip():
        raise NothingToCommit("empty commit message; nothing was committed",
                              hint='give one with -m "what changed"')
    if concluding:
        from .treemerge import merge_continue  # `pvc commit` concludes a merge, as in git

        return merge_continue(repo, message, author, date)
    author = repo.author(author)
    with repo.store.transaction():
        if repo.store.get_state("MERGE_HEAD"):
            from .errors import MergeError

            raise MergeError("a merge is in progress; nothing was committed",
                             hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
        changes, head_tree = repo.working_changes(select)
        if not changes:
            raise _nothing_to_commit(select)
        info = write_commit(repo, changes, head_tree, message, author, date)
        from .search import after_write

        after_write(repo)  # the search index's text, in the same transaction (one fsync)
    return info


def _nothing_to_commit(select: list[str] | None) -> NothingToCommit:
    return NothingToCommit(
        "nothing to commit, working tree clean" if select is None
        else "nothing to commit in the given paths",
        hint="edit a tracked file, or start tracking one with `pvc add`")


def run_check_before_commit(repo: Repo, paths: list[str] | None, cwd: Path | None,
                            check: bool | None) -> None:
    """CheckFailed when CHECK (None: config check.on_commit) is on and `pvc check` finds
    problems in the files a commit of PATHS would record."""
    if check is False:
        return
    from .prompts.check import check_before_commit, on_commit_enabled

    if check is None and not on_commit_enabled(repo.config):
        return
    _count, problems = check_before_commit(repo, paths or None, cwd)
    if problems:
        n = len(problems)
        raise CheckFailed(f"pvc check found {n} problem{'s' if n != 1 else ''}; nothing was "
                          "committed", problems,
                          hint="fix them, or commit anyway with `pvc commit --no-check`")


def write_commit(repo: Repo, changes: list[Change], base_tree: dict[str, str], message: str,
                 author: str, date: str | None, parent2: str | None = None,
                 contents: dict[str, bytes] | None = None,
                 parent2_versions: dict[str, str] | None = None,
                 ref: str | None = None, update_tracked: bool = True) -> CommitInfo:
    """Inside a transaction: store versions, tree, commit, change rows; move REF
    (default: the current branch) by compare-and-swap."""
    for c in changes:  # no tree ever holds a name pvc could not list or check out
        if c.status != "D":
            check_path(c.path)
    at = date or now_iso()
    ref = ref or repo.head_ref()
    head = repo.store.get_ref(ref)
    new_tree = dict(base_tree)
    for c in changes:  # renamed-away paths first: a change may re-create the old path
        if c.status == "R" and c.old_path:
            new_tree.pop(c.old_path, None)
    rows: list[ChangeRow] = []
    tracked_updates: list[tuple[str, int | None, str | None, str | None]] = []
    for c in changes:
        if c.status == "D":
            new_tree.pop(c.path, None)
            old = repo.versions.get(c.old_id) if c.old_id else b""
            dels = old.count(b"\n") + (1 if old and not old.endswith(b"\n") else 0)
            rows.append(ChangeRow("", c.path, "D", None, None, c.old_id, 0, dels))
            continue
        data: bytes | None
        if contents is not None and c.path in contents:
            data = contents[c.path]
        else:
            data = repo.read_work_file(c.path)
            if data is None:
                raise PathError(f"'{c.path}' vanished while committing; nothing was committed",
                                hint="run the commit again")
            problem = is_binary(data)
            if problem:
                raise PathError(f"cannot commit '{c.path}': {problem}",
                                hint=f"stop tracking it with `pvc rm --cached {c.path}`")
            tracked_updates.append(repo.files.stat_entry(c.path, data))
        p2 = (parent2_versions or {}).get(c.path)
        vid, ins, dels = repo.versions.put(data, kind="prompt", parent=c.old_id, parent2=p2,
                                           path=c.path, at=at)
        new_tree[c.path] = vid
        status = c.status
        if status == "M" and vid == c.old_id:
            continue
        rows.append(ChangeRow("", c.path, status, c.old_path, vid, c.old_id, ins, dels))
    head_tree_id = repo.commit_row(head).tree_id if head else None
    manifest = manifest_bytes(new_tree)
    tree_id, _, _ = repo.versions.put(manifest, kind="tree", parent=head_tree_id, path=None, at=at)
    repo.remember_tree(tree_id, dict(new_tree))
    parents = tuple(p for p in (head, parent2) if p)
    gen = 1 + max((repo.commit_row(p).generation for p in parents), default=0)
    cid = commit_id(tree_id, parents, author, at, message)
    if not rows and parent2 is None:
        raise NothingToCommit("nothing to commit, working tree clean",
                              hint="edit a tracked file first")
    repo.store.insert_commit(CommitRow(cid, tree_id, parents[0] if parents else None,
                                       parents[1] if len(parents) > 1 else None, author, at,
                                       message, gen))
    repo.store.insert_changes(
        ChangeRow(cid, r.path, r.status, r.old_path, r.version_id, r.old_version_id,
                  r.insertions, r.deletions)
        for r in rows
    )
    summary = message.splitlines()[0] if message.strip() else ""
    kind = "merge" if parent2 else ("commit (initial)" if head is None else "commit")
    # the ref moves now, whatever date the commit carries (an import's are old): the
    # reflog records when it moved, as git's does (and gc expires by that)
    moved = now_iso() if date else at
    if not repo.store.cas_ref(ref, head, cid, at=moved):
        raise RefConflict(f"{R.short(ref)} moved while committing; nothing was committed",
                          hint="run the commit again")
    repo.store.append_reflog(ref, head, cid, author, moved, f"{kind}: {summary}")
    if not update_tracked:
        return CommitInfo(cid, tree_id, parents, author, at, message, gen)
    for c in changes:
        if c.status == "D":
            repo.store.untrack(c.path)
        elif c.status == "R":
            repo.store.clear_origin(c.path)
    for rel, size, mtime, digest in tracked_updates:
        repo.store.set_tracked_stat(rel, size, mtime, digest)
    return CommitInfo(cid, tree_id, parents, author, at, message, gen)


def commit_files(repo: Repo, files: dict[str, bytes | None], message: str, *, author: str,
                 date: str | None = None, branch: str | None = None,
                 renames: dict[str, str] | None = None) -> CommitInfo | None:
    """Commit contents given in memory (not the working folder) onto BRANCH.

    FILES maps path -> new content, or None to delete it; RENAMES maps new path -> old
    path. Working files and the tracked set are left alone. Returns None when the result
    equals the branch head's tree. Used by importers and the daemon.
    """

    ref = R.HEADS + (branch or repo.current_branch() or DEFAULT_BRANCH)
    renames = renames or {}
    for path in list(files) + list(renames.values()):
        check_path(path)
    outer = repo.store.in_transaction  # an importer's batch: it indexes at its end
    with repo.store.transaction():
        head = repo.store.get_ref(ref)
        base_tree = repo.tree(head)
        changes: list[Change] = []
        contents: dict[str, bytes] = {}
        renamed_from = {old for new, old in renames.items() if files.get(new) is not None}
        for path in sorted(files):
            data = files[path]
            old_path = renames.get(path)
            if data is None:
                if path in base_tree and path not in renamed_from:
                    changes.append(Change("D", path, old_id=base_tree[path]))
                continue
            contents[path] = data
            digest = sha256(data)
            if old_path and old_path in base_tree and path not in base_tree:
                changes.append(Change("R", path, old_path=old_path,
                                      old_id=base_tree[old_path], new_id=digest))
            elif path in base_tree:
                if base_tree[path] != digest:
                    changes.append(Change("M", path, old_id=base_tree[path], new_id=digest))
            else:
                changes.append(Change("A", path, new_id=digest))
        if not changes:
            return None
        info = write_commit(repo, changes, base_tree, message, check_author(author), date,
                                  contents=contents, ref=ref, update_tracked=False)
        if not outer:
            from .search import after_write

            after_write(repo)  # the search index's text, in the same transaction
    return info


@dataclass
class AutosaveResult:
    """What one autosave did: WAITING says why it did nothing now (a merge in progress,
    another command updating the working files); else COMMIT is the new commit (None:
    nothing to commit), ADDED the new files it started tracking, SKIPPED the errors of new
    files it could not track (a binary file matching a prompt glob), TRACKED the tracked
    paths afterwards."""

    waiting: str | None = None
    commit: CommitInfo | None = None
    message: str | None = None
    added: list[str] = field(default_factory=list)
    skipped: list[PvcError] = field(default_factory=list)
    tracked: set[str] = field(default_factory=set)


def autosave(repo: Repo, rels: list[str], author: str | None = None) -> AutosaveResult:
    """The daemon's automatic commit of the changed paths RELS (repository-relative): start
    tracking the new ones, then commit them with the tracked ones, message
    "autosave: edit a.md, add b.md, delete c.md" (five named, then "and N more").

    One database transaction, holding the working-tree lock (journal.working_files_still)
    from the busy check to the commit: a `pvc switch` or a pull cannot update the working
    files in between, and a kill at any moment leaves either nothing or the whole autosave
    (the new files tracked *and* committed). During a merge, or while another command
    updates the working files, it does nothing and says why in `waiting`.

    `pvc check` (config check.on_commit) is not run: an autosave is a backup of work in
    progress, like `git commit --no-verify`; `pvc commit` checks what the user commits."""
    from .journal import working_files_still

    result = AutosaveResult()
    try:
        with repo.store.transaction(), working_files_still(repo) as waiting:
            if waiting:
                result.waiting = waiting
                return result
            tracked = set(repo.store.tracked())
            head_tree = repo.tree(repo.head())
            for rel in rels:
                if rel in tracked or rel in head_tree or not repo.abspath(rel).is_file():
                    continue
                try:  # one at a time: a file that cannot be tracked leaves the others in
                    repo.add([rel], cwd=repo.root)
                except PathError as exc:
                    result.skipped.append(exc)
                else:
                    result.added.append(rel)
            tracked.update(result.added)
            paths = [r for r in rels if r in tracked or r in head_tree]
            if paths:
                result.message = autosave_message(repo, paths, head_tree)
                result.commit = commit_working_changes(
                    repo, result.message, author, paths=paths, cwd=repo.root,
                    conclude_merge=False, check=False)
    except NothingToCommit:  # rolled back, the new files' tracking too
        result.commit, result.added = None, []
    result.tracked = set(repo.store.tracked())
    return result


def autosave_message(repo: Repo, paths: list[str], head_tree: dict[str, str]) -> str:
    """"autosave: edit a.md, add b.md, delete c.md" for PATHS (five named, then "and N more")."""
    verbs = []
    for rel in paths:
        if not repo.abspath(rel).exists():
            verbs.append(f"delete {rel}")
        elif rel not in head_tree:
            verbs.append(f"add {rel}")
        else:
            verbs.append(f"edit {rel}")
    more = f" and {len(verbs) - 5} more" if len(verbs) > 5 else ""
    return "autosave: " + ", ".join(verbs[:5]) + more
