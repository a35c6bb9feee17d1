"""The repository API every front end (CLI, daemon, TUI) calls: `Repo`.

A repository is a working folder with a ``.pvc/`` folder holding one libSQL database
(``pvc.db``) and a config file. The database holds the shared history (versions, commits,
changes, refs, reflog) and the local state (HEAD, tracked files and their stat cache).

`Repo` is the one public API; the work sits behind it, one module per seam:

- promptvc/worktree.py: the working folder (paths, ignore rules, stat cache, file I/O);
- promptvc/status.py: working changes against HEAD, and `pvc status`;
- promptvc/tracking.py: add, rm, mv;
- promptvc/commits.py: writing commits;
- promptvc/revisions.py: revisions, log, diffs, reflog;
- promptvc/branching.py: branches, tags, switch, restore;
- promptvc/treemerge.py: merges; promptvc/journal.py: journaled working-file updates.

This module keeps the lifecycle (init, open, close), HEAD, the tree cache and ref moves.
The modules above import `Repo` from here; this module imports them only inside its
methods, so there is no import cycle.

May import: refs, config, clock, errors, paths, objects, store, worktree and status at the
top; the modules of the seams above, history, journal, fsck and search only inside methods.

Size: about 600 lines, most of them short methods that hand the call to the modules above,
so that the whole public API of a repository reads in one place.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import refs as R
from .config import Config, check_author, default_author
from .clock import now_iso
from .errors import NotARepository, PathError, RefConflict, RepositoryExists, UnknownRevision
from .errors import DamagedRepository, ErrorCode, PvcError, SchemaError
from .paths import check_path
from .objects import EMPTY_TREE, Policy, VersionStore, parse_manifest, sha256
from .store import ChangeRow, CommitRow, ReflogRow, Store
from .status import Status
from .worktree import PVC_DIR, Change, WorkTree, display, is_binary, non_utf8_name

__all__ = ["Change", "ChangeRow", "CommitInfo", "DB_NAME", "PVC_DIR", "Repo", "SHORT", "Status",
           "display", "find_root", "is_binary", "non_utf8_name", "now_iso"]

DB_NAME = "pvc.db"
DEFAULT_BRANCH = "main"
SHORT = 8


@dataclass
class CommitInfo:
    id: str
    tree_id: str
    parents: tuple[str, ...]
    author: str
    date: str
    message: str
    generation: int

    @classmethod
    def from_row(cls, row: CommitRow) -> "CommitInfo":
        return cls(row.id, row.tree_id, row.parents, row.author, row.committed_at, row.message,
                   row.generation)

    @property
    def short(self) -> str:
        return self.id[:SHORT]

    @property
    def summary(self) -> str:
        return self.message.splitlines()[0] if self.message else ""

    def to_json(self) -> dict:
        return {"id": self.id, "tree": self.tree_id, "parents": list(self.parents),
                "author": self.author, "date": self.date, "message": self.message}


def find_root(start: Path) -> Path | None:
    """The nearest folder holding a .pvc/ repository folder (its database may be damaged:
    opening the repository says so instead of looking further up)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        pvc = folder / PVC_DIR
        if (pvc / DB_NAME).is_file() or (pvc / "config").is_file():
            return folder
    return None


REPAIR_HINT = ("rebuild it from the remote with `pvc fsck --repair` (the damaged file is kept "
               "aside, working files are not touched), or clone the repository again")
SQLITE_HEADER = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
    """Refuse a database file that is missing, empty or not SQLite (never replace it)."""
    if not path.exists():
        raise DamagedRepository(f"the pvc database {path} is missing; the repository is damaged "
                                "and pvc will not create a new, empty one", hint=REPAIR_HINT)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DamagedRepository(f"the pvc database {path} cannot be read: {exc.strerror}",
                                hint="check its permissions; " + REPAIR_HINT) from None
    if not head:
        raise DamagedRepository(f"the pvc database {path} is empty (0 bytes); the repository is "
                                "damaged and pvc will not replace it", hint=REPAIR_HINT)
    if head != SQLITE_HEADER and not os.environ.get("PVC_ENCRYPTION_KEY"):
        raise DamagedRepository(f"the pvc database {path} is not a SQLite database (its first "
                                "bytes are wrong); the repository is damaged",
                                hint="if it is encrypted, set PVC_ENCRYPTION_KEY; otherwise "
                                     + REPAIR_HINT)


class Repo:
    """A pvc repository. Open with :meth:`open` or create with :meth:`init`."""

    def __init__(self, root: Path):
        root = Path(os.path.abspath(root))  # a relative root would break path checks later
        self.root = root
        self.pvc_dir = root / PVC_DIR
        self.config = Config(self.pvc_dir / "config")
        check_database_file(self.pvc_dir / DB_NAME)
        try:
            self.store = Store(str(self.pvc_dir / DB_NAME))
            if self.store.user_version() == 0:  # a database pvc never made: not upgraded
                self.store.close()
                raise DamagedRepository(
                    f"the pvc database {self.pvc_dir / DB_NAME} holds no pvc data; the "
                    "repository is damaged and pvc will not replace it", hint=REPAIR_HINT)
            self.store.check_schema()
        except SchemaError as exc:
            if exc.error_code is ErrorCode.DAMAGED and \
                    not os.environ.get("PVC_ENCRYPTION_KEY"):
                raise DamagedRepository(exc.message, hint=REPAIR_HINT) from None
            raise
        self.policy = Policy(
            max_chain_len=self.config.get_int("core", "max_chain_length", Policy.max_chain_len),
            max_chain_ratio=self.config.get_float("core", "max_chain_ratio",
                                                  Policy.max_chain_ratio),
        )
        self.versions = VersionStore(self.store, self.policy)
        self.files = WorkTree(root, self.config, self.store)
        self._trees: OrderedDict[str, dict[str, str]] = OrderedDict()  # parsed manifests
        self._author: str | None = None
        from .journal import WorkJournal

        self.work = WorkJournal(self)
        self._work_depth = 0
        if self.work.path.exists():  # a command was killed while updating working files
            try:
                self.work.recover()
            except PvcError:  # e.g. a read-only folder: reads still work, the journal stays
                self.work.settle_failed = True

    # -- lifecycle ------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path | str = ".", branch: str = DEFAULT_BRANCH) -> "Repo":
        root = Path(path).resolve()
        if (root / PVC_DIR / DB_NAME).exists():
            raise RepositoryExists(
                f"{root} is already a pvc repository",
                hint="use it as it is, or remove its .pvc folder to start over",
            )
        R.check_ref_name(branch)
        if root.exists() and not root.is_dir():
            raise PathError(f"{root} exists and is not a folder", hint="choose another path")
        try:
            (root / PVC_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PathError(f"cannot create {root / PVC_DIR}: {exc.strerror}",
                            hint="check the folder's permissions") from None
        cfg = root / PVC_DIR / "config"
        if not cfg.exists():
            cfg.write_text("# pvc repository settings; see `pvc config --help`\n", encoding="utf-8")
        store = Store(str(root / PVC_DIR / DB_NAME))
        store.set_wal()
        store.migrate()
        with store.transaction():
            store.set_state("HEAD", R.HEADS + branch)
        store.close()
        return cls(root)

    @classmethod
    def open(cls, start: Path | str | None = None) -> "Repo":
        here = Path(start or os.getcwd())
        root = find_root(here)
        if root is None:
            raise NotARepository(
                f"not a pvc repository (or any parent up to /): {here.resolve()}",
                hint="run `pvc init` to create one here, or pass -C PATH",
            )
        return cls(root)

    def close(self) -> None:
        try:
            if self._work_depth == 0:
                self.work.settle()
        finally:
            self.store.close()

    @contextlib.contextmanager
    def updating_work(self):
        """One database transaction that also updates working files through the journal
        (promptvc/journal.py); the journal is settled when the outermost one ends, and only
        once the database transaction is over: inside a caller's wider transaction it stays
        until that commits (a kill before then must roll the files back), and the next
        command (or the next update) settles it."""
        self._work_depth += 1
        try:
            with self.store.transaction():
                yield self
        finally:
            self._work_depth -= 1
            if self._work_depth == 0 and not self.store.in_transaction:
                self.work.settle()

    def apply_work(self, plan: dict[str, tuple[str | None, bytes | None]], what: str,
                   forward: bool = False) -> None:
        """Inside updating_work(): PLAN maps path -> (content id it has now or None, new bytes
        or None to remove it); journaled, then written."""
        from .journal import Entry

        entries, contents = [], {}
        for path in sorted(plan):
            old, data = plan[path]
            check_path(path)
            entries.append(Entry(path, old, sha256(data) if data is not None else None))
            if data is not None:
                contents[path] = data
        self.work.apply(entries, contents, what, forward=forward)

    # -- identity -------------------------------------------------------------------
    def author(self, override: str | None = None) -> str:
        if override:
            return check_author(override)
        if self._author is None:
            self._author = default_author(self.config)
        return self._author



    # -- the working folder (promptvc/worktree.py) ------------------------------------------
    def rel(self, user_path: str | os.PathLike, cwd: Path | None = None) -> str:
        """The repository-relative POSIX path of a path the user typed."""
        return self.files.rel(user_path, cwd)

    def abspath(self, rel: str) -> Path:
        return self.files.abspath(rel)

    def read_work_file(self, rel: str) -> bytes | None:
        """A working file's bytes (None if missing); a symbolic link is refused."""
        return self.files.read_work_file(rel)

    def read_work_bytes(self, rel: str) -> bytes | None:
        """A working file's bytes, or None when there is no regular file."""
        return self.files.read_work_bytes(rel)

    def write_work_file(self, rel: str, data: bytes) -> None:
        """Write one working file atomically, never through a link leading outside."""
        self.files.write_work_file(rel, data)

    def remove_work(self, rel: str) -> None:
        """Delete a working file (and the folders it leaves empty)."""
        self.files.remove_work(rel)

    def ignore_patterns(self) -> list[str]:
        """Editor temp-file patterns, then the lines of `.pvcignore` (gitignore syntax)."""
        return self.files.ignore_patterns()

    def is_ignored(self, rel: str, patterns: list[str] | None = None) -> bool:
        return self.files.is_ignored(rel, patterns)

    def matches_prompt_globs(self, rel: str) -> bool:
        return self.files.matches_prompt_globs(rel)

    def walk_files(self, under: str = "") -> Iterator[str]:
        """Regular files under UNDER (repository-relative), skipping pvc/VCS folders."""
        return self.files.walk_files(under)

    def cache_stat(self, rel: str, data: bytes) -> None:
        self.files.cache_stat(rel, data)

    # -- refs and revisions --------------------------------------------------------------
    def head_ref(self) -> str:
        return self.store.get_state("HEAD") or R.HEADS + DEFAULT_BRANCH

    def current_branch(self) -> str | None:
        ref = self.head_ref()
        return ref[len(R.HEADS):] if ref.startswith(R.HEADS) else None

    def head(self) -> str | None:
        ref = self.head_ref()
        if ref.startswith("refs/"):
            return self.store.get_ref(ref)
        return ref  # detached

    def resolve(self, rev: str) -> str:
        """A commit id from REV: id, unique prefix (4+), branch, tag, remote ref, HEAD, X~N, X^N."""
        from .revisions import resolve

        return resolve(self, rev)

    def commit_row(self, cid: str) -> CommitRow:
        row = self.store.get_commit(cid)
        if row is None:
            raise UnknownRevision(f"commit {cid[:SHORT]} is missing from the repository",
                                  hint="run `pvc fsck`")
        return row

    def commit(self, rev: str) -> CommitInfo:
        return CommitInfo.from_row(self.commit_row(self.resolve(rev)))

    def tree(self, cid: str | None) -> dict[str, str]:
        """path -> version id of commit CID's tree ({} for None)."""
        if cid is None:
            return {}
        return self.tree_of(self.commit_row(cid).tree_id)

    def tree_of(self, tree_id: str) -> dict[str, str]:
        """path -> version id of the tree TREE_ID (a copy: the caller may change it)."""
        if tree_id == EMPTY_TREE:
            return {}
        hit = self._trees.get(tree_id)
        if hit is None:
            hit = parse_manifest(self.versions.get(tree_id))
            self.remember_tree(tree_id, hit)
        else:
            self._trees.move_to_end(tree_id)
        return dict(hit)

    def remember_tree(self, tree_id: str, tree: dict[str, str]) -> None:
        """Keep TREE (the parsed manifest of TREE_ID) in the small cache of recent trees."""
        self._trees[tree_id] = tree
        while len(self._trees) > 8:  # a few trees: HEAD's, its parent's, other branches'
            self._trees.popitem(last=False)

    def read(self, rev: str, path: str) -> bytes:
        """The content of PATH at REV, byte for byte as committed."""
        cid = self.resolve(rev)
        tree = self.tree(cid)
        vid = tree.get(path)
        if vid is None:
            raise PathError(
                f"path '{path}' does not exist in {rev} ({cid[:SHORT]})",
                hint=f"see `pvc show {rev}` for the files it has",
            )
        return self.versions.get(vid)

    def read_version(self, vid: str) -> bytes:
        return self.versions.get(vid)

    # -- ref moves (compare-and-swap, logged) --------------------------------------------
    def move_ref(self, name: str, old: str | None, new: str | None, action: str,
                 who: str | None = None, at: str | None = None) -> None:
        """Move ref NAME from OLD to NEW by compare-and-swap and log it (AT: when; now by
        default); RefConflict when it no longer points at OLD."""
        at = at or now_iso()
        with self.store.transaction():
            if not self.store.cas_ref(name, old, new, at=at):
                current = self.store.get_ref(name)
                raise RefConflict(
                    f"{R.short(name)} moved while pvc was updating it (expected "
                    f"{(old or 'nothing')[:SHORT]}, found {(current or 'nothing')[:SHORT]})",
                    hint="run the command again",
                )
            self.store.append_reflog(name, old, new, who or self.author(), at, action)

    # -- working changes and status (promptvc/status.py) ------------------------------
    def working_changes(self, paths: Iterable[str] | None = None) -> tuple[list[Change], dict]:
        """Changes of tracked files in the working folder against HEAD (and HEAD's tree)."""
        from .status import working_changes

        return working_changes(self, paths)

    def status(self, untracked: bool = True) -> Status:
        """What `pvc status` shows: working changes, untracked prompt files, a merge."""
        from .status import status

        return status(self, untracked)

    # -- add / rm / mv (promptvc/tracking.py) -------------------------------------------
    def add(self, user_paths: Iterable[str], cwd: Path | None = None) -> list[str]:
        """Start tracking files (folders: every prompt-like file under them)."""
        from .tracking import add

        return add(self, user_paths, cwd)

    def rm(self, user_paths: Iterable[str], cached: bool = False, force: bool = False,
           cwd: Path | None = None) -> list[str]:
        from .tracking import rm

        return rm(self, user_paths, cached, force, cwd)

    def mv(self, old_raw: str, new_raw: str, cwd: Path | None = None) -> tuple[str, str]:
        from .tracking import mv

        return mv(self, old_raw, new_raw, cwd)

    # -- commit (promptvc/commits.py) ---------------------------------------------------
    def commit_changes(self, message: str | Callable[[], str | None],
                       author: str | None = None, paths: Iterable[str] | None = None,
                       cwd: Path | None = None, date: str | None = None, *,
                       conclude_merge: bool = True, check: bool | None = None) -> CommitInfo:
        """Commit changed tracked files (all, or those under PATHS). During a merge this
        concludes it, as in git, unless CONCLUDE_MERGE is False (automatic committers):
        then MergeError, checked inside the commit's transaction. CHECK: run `pvc check`
        on the files first, refusing with CheckFailed (None: config check.on_commit).
        MESSAGE may be a function (an editor), called once the check passed."""
        from .commits import commit_working_changes

        return commit_working_changes(self, message, author, paths, cwd, date,
                                      conclude_merge=conclude_merge, check=check)

    def autosave(self, rels: list[str], author: str | None = None):
        """The daemon's automatic commit of changed paths RELS, new files tracked first: one
        transaction under the working-tree lock (all or nothing), no `pvc check`; an
        `AutosaveResult` (its `waiting` says why it did nothing now)."""
        from .commits import autosave

        return autosave(self, rels, author)

    def write_commit(self, changes: list[Change], base_tree: dict[str, str], message: str,
                     author: str, date: str | None, parent2: str | None = None,
                     contents: dict[str, bytes] | None = None,
                     parent2_versions: dict[str, str] | None = None,
                     ref: str | None = None, update_tracked: bool = True) -> CommitInfo:
        """Inside a transaction: store versions, tree, commit, change rows; move REF
        (default: the current branch) by compare-and-swap."""
        from .commits import write_commit

        return write_commit(self, changes, base_tree, message, author, date, parent2, contents,
                            parent2_versions, ref, update_tracked)

    def commit_files(self, files: dict[str, bytes | None], message: str, *, author: str,
                     date: str | None = None, branch: str | None = None,
                     renames: dict[str, str] | None = None) -> CommitInfo | None:
        """Commit contents given in memory (not the working folder) onto BRANCH; None when
        nothing changes. Working files and the tracked set are left alone."""
        from .commits import commit_files

        return commit_files(self, files, message, author=author, date=date, branch=branch,
                            renames=renames)

    # -- history (promptvc/revisions.py) ------------------------------------------------
    def log(self, rev: str | None = None, limit: int | None = None,
            paths: Iterable[str] | None = None, exclude: str | None = None) -> list[CommitInfo]:
        """Commits reachable from REV (default HEAD), newest first; with PATHS, only those
        that changed one of them (following renames)."""
        from .revisions import log

        return log(self, rev, limit, paths, exclude)

    def changes(self, cid: str) -> list[ChangeRow]:
        return self.store.changes_of(cid)

    def changes_many(self, cids: list[str]) -> dict[str, list[ChangeRow]]:
        return self.store.changes_for_commits(cids)

    def tree_changes(self, old: dict[str, str], new: dict[str, str]) -> list[Change]:
        """Changes between two trees; identical content that moved counts as a rename."""
        from .revisions import tree_changes

        return tree_changes(self, old, new)

    def diff_trees(self, old: dict[str, str], new: dict[str, str],
                   paths: Iterable[str] | None = None) -> bytes:
        from .revisions import diff_trees

        return diff_trees(self, old, new, paths)

    def diff(self, rev_a: str | None = None, rev_b: str | None = None,
             paths: Iterable[str] | None = None, cwd: Path | None = None) -> bytes:
        """Unified diff: working tree vs HEAD (no rev), vs REV_A, or REV_A vs REV_B."""
        from .revisions import diff

        return diff(self, rev_a, rev_b, paths, cwd)

    # -- reads the front ends need -------------------------------------------------------
    def tracked(self) -> dict:
        """The tracked paths, each with its last recorded version and stat (`TrackedRow`)."""
        return self.store.tracked()

    def get_ref(self, name: str) -> str | None:
        """The commit id a full ref name (`refs/heads/x`, `refs/remotes/origin/x`) points at."""
        return self.store.get_ref(name)

    def list_refs(self, prefix: str) -> list[tuple[str, str]]:
        """(full ref name, commit id) for every ref under PREFIX, sorted by name."""
        return self.store.list_refs(prefix)

    def branch_dbs(self, remote: str | None = None) -> list:
        """The branch -> database mappings recorded for REMOTE (all remotes if None)."""
        return self.store.branch_dbs(remote)

    def versions_of_path(self, path: str) -> list:
        """Every stored version of PATH, oldest first."""
        return self.store.versions_of_path(path)

    def count_commits(self, head: str | None, exclude: Iterable[str | None] = ()) -> int:
        """How many commits HEAD reaches that none of EXCLUDE reaches (the walk stops there)."""
        from .history import count

        return count(self.store, head, exclude)

    def walker(self, heads: Iterable[str | None]):
        """A lazy walk (`promptvc.history.Walker`) over the commits HEADS reach, in log order."""
        from .history import Walker

        return Walker(self.store, heads)

    def commits_touching(self, paths) -> list:
        """The commits whose change rows name one of PATHS."""
        return self.store.commits_touching(paths)

    # -- branches ---------------------------------------------------------------------
    def branches(self) -> list[tuple[str, str]]:
        return [(R.short(n), t) for n, t in self.store.list_refs(R.HEADS)]

    def remote_branches(self) -> list[tuple[str, str]]:
        return [(R.short(n), t) for n, t in self.store.list_refs(R.REMOTES)]

    def create_branch(self, name: str, start: str | None = None) -> str:
        from .branching import create_branch

        return create_branch(self, name, start)

    def check_deletable(self, name: str, force: bool, anyway: str = "delete it anyway") -> str:
        """The head of branch NAME, if it may be deleted: not current, merged unless FORCE."""
        from .branching import check_deletable

        return check_deletable(self, name, force, anyway)

    def delete_branch(self, name: str, force: bool = False) -> str:
        from .branching import delete_branch

        return delete_branch(self, name, force)

    def switch(self, name: str, create: bool = False) -> str:
        """Make NAME the current branch and update the working files."""
        from .branching import switch

        return switch(self, name, create)

    def checkout_trees(self, head_tree: dict[str, str], new_tree: dict[str, str],
                  changes: list[Change], what: str) -> None:
        """Replace HEAD_TREE's files with NEW_TREE's, keeping local changes that don't clash."""
        from .branching import checkout_trees

        return checkout_trees(self, head_tree, new_tree, changes, what)

    def restore(self, user_paths: Iterable[str], source: str | None = None,
                cwd: Path | None = None) -> list[str]:
        """Overwrite working files with their content at SOURCE (default HEAD)."""
        from .branching import restore

        return restore(self, user_paths, source, cwd)

    # -- tags ---------------------------------------------------------------------------
    def tags(self) -> list[tuple[str, str]]:
        return [(R.short(n), t) for n, t in self.store.list_refs(R.TAGS)]

    def tag(self, name: str, rev: str | None = None, force: bool = False,
            why: str | None = None) -> tuple[str | None, str]:
        """Create or (with FORCE) move tag NAME to REV; WHY is added to the reflog entry."""
        from .branching import tag

        return tag(self, name, rev, force, why)

    def delete_tag(self, name: str) -> str:
        from .branching import delete_tag

        return delete_tag(self, name)

    def reflog(self, name: str | None = None, limit: int | None = None) -> list[ReflogRow]:
        from .revisions import reflog

        return reflog(self, name, limit)

    def merge_base(self, a: str, b: str) -> str | None:
        """A best common ancestor of A and B (the newest, for criss-cross histories)."""
        from .revisions import merge_base

        return merge_base(self, a, b)

    def merge(self, rev: str, **kwargs):
        from .treemerge import merge
        from .search import after_write

        result = merge(self, rev, **kwargs)
        after_write(self)
        return result

    def merge_continue(self, message: str | None = None, author: str | None = None,
                       date: str | None = None) -> "CommitInfo":
        from .treemerge import merge_continue
        from .search import after_write

        info = merge_continue(self, message, author, date)
        after_write(self)
        return info

    def merge_abort(self) -> None:
        from .treemerge import merge_abort

        merge_abort(self)

    # -- integrity ----------------------------------------------------------------------
    def fsck(self, progress=None):
        from .fsck import check

        return check(self, progress=progress)


