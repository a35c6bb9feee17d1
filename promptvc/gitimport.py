"""Import a git repository's history into pvc.

The import never runs git once per commit: it streams the first-parent history (metadata
and the blob ids of every change) from ONE ``git log --raw -z`` and every file content it
needs through ONE ``git cat-file --batch`` process (promptvc/gitread.py), fed batch by batch
in the order the replay consumes them, so its memory holds one batch of commits whatever
the history's length (a resumed import reads the log once more, without the changes, to
find where it stops).

Imports are idempotent: ``.pvc/git-import-map`` records, for every git commit replayed, the
pvc commit its branch pointed at afterwards. A git commit whose recorded pvc commit is
already in the target branch's history is not replayed again. Replaying is also safe
after a crash: a change that is already on the branch produces no new commit.

May import: gitread, refs, paths, errors, search (after the import), and repo (for `Repo`
and `is_binary`; repo does not import this module).
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import refs as R
from .errors import DirtyWorkingTree, RefError
from .gitread import BlobReader, GitCommit, Progress, count_history, git_repo, iter_history
from .repo import Repo, is_binary

MAP_FILE = "git-import-map"
_REGULAR = ("100644", "100755", "100664")
#: a transaction is committed (and the import map written) after this many commits
BATCH_COMMITS = 500


# -- path selection -----------------------------------------------------------------------
class PathFilter:
    """--include/--exclude globs. A glob without '/' matches a file name in any folder; a
    glob with '/' matches the whole path ('*' also crosses '/'). No --include: every path."""

    def __init__(self, include: Iterable[str] = (), exclude: Iterable[str] = ()):
        self.include = [g.lstrip("/") for g in include]
        self.exclude = [g.lstrip("/") for g in exclude]

    @staticmethod
    def _match(path: str, glob: str) -> bool:
        if "/" in glob:
            return fnmatch.fnmatchcase(path, glob) or path.startswith(glob.rstrip("/") + "/")
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], glob)

    def __call__(self, path: str) -> bool:
        if self.include and not any(self._match(path, g) for g in self.include):
            return False
        return not any(self._match(path, g) for g in self.exclude)


def _storable(path: bytes) -> str | None:
    """PATH as pvc stores it, or None when pvc cannot store it."""
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        return None
    from .paths import path_problem

    if path_problem(text) is not None:  # the one rule for every name pvc accepts
        return None
    return text


# -- import ---------------------------------------------------------------------------------
@dataclass
class ImportResult:
    source: str
    rev: str
    branch: str
    git_commits: int = 0           # commits on the first-parent chain of REV
    already: int = 0               # of those, already imported into BRANCH before this run
    replayed: int = 0              # git commits replayed in this run
    created: int = 0               # pvc commits made (a replayed commit may change nothing)
    versions: int = 0              # file versions written
    binary: dict[str, int] = field(default_factory=dict)   # path -> versions skipped
    unsupported: dict[str, str] = field(default_factory=dict)  # path -> why it was skipped
    old_head: str | None = None
    head: str | None = None
    checkout: str = "not-current"  # updated | dirty | blocked | not-current | unchanged
    checkout_note: str | None = None
    resumed_by: str | None = None  # how already-imported commits were recognised
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "source": self.source, "rev": self.rev, "branch": self.branch,
            "git_commits": self.git_commits, "already_imported": self.already,
            "recognised_by": self.resumed_by,
            "replayed": self.replayed, "commits_created": self.created,
            "versions": self.versions,
            "binary_skipped": {"files": len(self.binary), "versions": sum(self.binary.values()),
                               "paths": sorted(self.binary)},
            "unsupported_skipped": [{"path": p, "why": w} for p, w in sorted(self.unsupported.items())],
            "old_head": self.old_head, "head": self.head,
            "working_files": self.checkout, "working_files_note": self.checkout_note,
            "seconds": round(self.seconds, 3),
        }


def _map_path(repo: Repo) -> Path:
    return repo.pvc_dir / MAP_FILE


def read_import_map(repo: Repo) -> dict[str, set[str]]:
    """git commit sha -> the pvc commits a branch pointed at after replaying it."""
    out: dict[str, set[str]] = {}
    try:
        text = _map_path(repo).read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.setdefault(parts[0], set()).add(parts[1])
    return out


def _resume_point(repo: Repo, head: str | None, top: Path, rev: str) -> tuple[int, str | None]:
    """How many commits of REV's history (oldest first) are already on the branch whose head
    is HEAD (one streamed pass over the git log, without the file changes).

    The import map decides: the newest git commit whose recorded pvc commit is in the
    branch's history. Without a usable map (a clone, or the map was deleted), the newest git
    commit whose author, date and message equal those of a pvc commit on the branch.
    """
    if head is None:
        return 0, None
    on_branch = repo.store.ancestor_ids([head])
    mapping = read_import_map(repo)
    if mapping:
        found = 0
        for idx, c in enumerate(iter_history(top, rev, raw=False)):
            if mapping.get(c.sha, set()) & on_branch:
                found = idx + 1
        if found:
            return found, "map"
    seen = {(c.author, c.date, c.message) for c in repo.log(head)}
    found = 0
    for idx, c in enumerate(iter_history(top, rev, raw=False)):
        if (c.author, c.date, c.message) in seen:
            found = idx + 1
    return (found, "metadata") if found else (0, None)


def _plan(commit: GitCommit, wanted: PathFilter, result: ImportResult
          ) -> list[tuple[str, str | None, str | None, str | None]]:
    """The steps of one git commit as (kind, path, old_path, blob):
    ('put', path, rename_from | None, blob) or ('del', path, None, None)."""
    steps: list[tuple[str, str | None, str | None, str | None]] = []
    for ch in commit.changes:
        new_path = _storable(ch.path)
        old_raw = ch.old_path if ch.status in "RC" else ch.path
        old_path = _storable(old_raw) if old_raw is not None else None
        if new_path is None and ch.status != "D":
            result.unsupported.setdefault(ch.path.decode("utf-8", "replace"),
                                          "pvc cannot store this path")
        old_in = old_path is not None and ch.status != "A" and ch.old_mode in _REGULAR \
            and wanted(old_path)
        new_ok = ch.status != "D" and new_path is not None and wanted(new_path)
        if new_ok and new_path is not None and ch.new_mode not in _REGULAR:
            kind = "symbolic link" if ch.new_mode == "120000" else \
                "submodule" if ch.new_mode == "160000" else f"mode {ch.new_mode}"
            result.unsupported.setdefault(new_path, f"it is a {kind}")
            new_ok = False
        if ch.status == "C":  # a copy keeps its source: the new path is an addition
            old_in = False
        if ch.status in "RC" and old_path is not None and old_in and not new_ok:
            steps.append(("del", old_path, None, None))
        elif ch.status in "RC" and new_ok:
            steps.append(("put", new_path, old_path if old_in else None, ch.new_blob))
        elif ch.status == "D":
            if old_in:
                steps.append(("del", old_path, None, None))
        elif new_ok:
            steps.append(("put", new_path, None, ch.new_blob))
        elif old_in:  # a regular file became a link or submodule
            steps.append(("del", old_path, None, None))
    return steps


def import_git(repo: Repo, source: str | os.PathLike, rev: str = "HEAD",
               include: Iterable[str] = (), exclude: Iterable[str] = (),
               branch: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Replay the first-parent history of REV in the git repository SOURCE onto BRANCH
    (default: the current branch). See the module docstring."""
    started = time.perf_counter()
    current = repo.current_branch()
    if branch is None:
        if current is None:
            raise RefError("HEAD is detached, so there is no current branch to import onto",
                           hint="give one with --branch NAME")
        branch = current
    R.check_ref_name(branch)
    if branch == current and repo.store.get_state("MERGE_HEAD"):
        raise DirtyWorkingTree(f"a merge is in progress on branch '{branch}'",
                               hint="finish it with `pvc merge --continue` or `pvc merge "
                                    "--abort`, or import onto another branch with --branch")
    top = git_repo(source)
    total = count_history(top, rev)
    result = ImportResult(str(source), rev, branch, git_commits=total)
    ref = R.HEADS + branch
    is_current = branch == current
    head = repo.store.get_ref(ref)
    result.old_head = result.head = head

    start, result.resumed_by = _resume_point(repo, head, top, rev)
    result.already = start
    todo_count = total - start

    # Only a clean working folder is brought up to date afterwards (see below).
    clean = False
    if is_current and todo_count > 0:
        st = repo.status(untracked=False)
        clean = st.clean and not st.merging
    wanted = PathFilter(include, exclude)

    # The history streams through in batches: BATCH_COMMITS commits are planned, their blobs
    # asked for, and they are written in one transaction; memory holds one batch.
    history = iter_history(top, rev)
    for _ in range(start):
        next(history, None)
    reader: BlobReader | None = None
    map_lines: list[str] = []
    map_file = _map_path(repo)
    done = 0
    try:
        while True:
            batch = []
            for commit in history:
                batch.append((commit, _plan(commit, wanted, result)))
                if len(batch) >= BATCH_COMMITS:
                    break
            if not batch:
                break
            blobs = [blob for _, plan in batch for kind, _, _, blob in plan
                     if kind == "put" and blob]
            if blobs:
                if reader is None:
                    reader = BlobReader(top)
                reader.want(blobs)
            with repo.store.transaction():
                for commit, plan in batch:
                    files: dict[str, bytes | None] = {}
                    renames: dict[str, str] = {}
                    for kind, path, old_path, blob in plan:
                        assert path is not None
                        if kind == "del":
                            files.setdefault(path, None)
                            continue
                        assert blob is not None and reader is not None
                        data = reader.read(blob)
                        if is_binary(data):
                            result.binary[path] = result.binary.get(path, 0) + 1
                            files[path] = None  # a text file that became binary leaves pvc
                            if old_path:
                                files.setdefault(old_path, None)
                            continue
                        files[path] = data
                        if old_path:
                            renames[path] = old_path
                    for new, old in list(renames.items()):
                        if old in files:  # the old path was re-created or deleted here too
                            del renames[new]
                    info = None
                    if files:
                        info = repo.commit_files(files, commit.message, author=commit.author,
                                                 date=commit.date, branch=branch, renames=renames)
                    if info is not None:
                        result.created += 1
                        result.versions += sum(1 for v in files.values() if v is not None)
                        result.head = info.id
                    map_lines.append(f"{commit.sha} {result.head or '-'}\n")
                    done += 1
                    result.replayed += 1
                    if progress:
                        progress(done, todo_count)
            # the batch is committed: record it (a crash before this line only means the
            # next run replays these commits again, which changes nothing)
            if map_lines:
                with open(map_file, "a", encoding="utf-8") as fh:
                    fh.writelines(map_lines)
                map_lines.clear()
    finally:
        close = getattr(history, "close", None)
        if close is not None:
            close()
        if reader is not None:
            reader.close()
    from .search import after_write

    # the search index's text for the imported versions
    after_write(repo, budget_s=None, max_bytes=None)

    if not is_current:
        result.checkout = "not-current"
    elif result.head == result.old_head:
        result.checkout = "unchanged"
    elif not clean:
        result.checkout = "dirty"
        result.checkout_note = ("the working files were left as they were because they have "
                                "uncommitted changes; `pvc status` now compares them with the "
                                "imported head")
    else:
        try:
            with repo.updating_work():
                # the working folder matches the old head: move it to the new one
                repo.checkout_trees(repo.tree(result.old_head), repo.tree(result.head), [],
                               what="the import")
            result.checkout = "updated"
        except DirtyWorkingTree as exc:
            result.checkout = "blocked"
            result.checkout_note = f"the working files were left as they were: {exc.message}"
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["ImportResult", "import_git", "PathFilter", "read_import_map", "MAP_FILE",
           "BATCH_COMMITS"]
