"""Journaled working-tree updates: a kill at any moment leaves the old or the new working state.

Every command that writes working files (switch, merge, pull, restore, clone, `merge --abort`,
the daemon's updates, import's checkout) goes through :meth:`WorkJournal.apply`, called inside
the command's database transaction:

1. the plan (each path with the content id it had and the one it gets) is written to
   ``.pvc/worktree.journal`` and fsynced, under the lock ``.pvc/worktree.lock``;
2. the plan's id is recorded in the same database transaction (state ``WORK_JOURNAL``);
3. the files are written (each one atomically: temporary file, then rename);
4. after the transaction, :meth:`WorkJournal.settle` removes the journal.

The next pvc command that opens the repository finds a journal left by a killed process
(its lock is free) and settles it by itself:

- the transaction committed (``WORK_JOURNAL`` is the journal's id): the update is **finished**
  (every file gets its new content);
- it did not: the update is **rolled back** (every file gets its old content back), except for
  plans marked ``forward`` (restore, `merge --abort`), whose new contents are committed
  versions: those are always finished.

A file whose content is neither the old nor the new one (edited after the kill) is left alone
and named in the report. `pvc status` prints what was done.

Automatic writers (the daemon) ask `busy_reason` whether to wait; the daemon's autosave
holds the same lock for the span of its transaction through `working_files_still`, so no
update of the working files runs while it reads them.

May import: errors, locks, objects (inside a function); the repository comes as an argument.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Iterator

from .errors import LockedError
from .fileio import fsync_dir, write_atomic
from .locks import FileLock

JOURNAL = "worktree.journal"
LOCK = "worktree.lock"
STATE_KEY = "WORK_JOURNAL"
RECOVERED_KEY = "WORK_RECOVERED"  # shown by `pvc status` until the next update
# why an automatic writer waits (busy_reason, working_files_still)
MERGE_BUSY = "a merge is in progress (finish it with `pvc merge --continue` or `--abort`)"
UPDATE_BUSY = "another pvc command is updating the working files"
SETTLE_BUSY = "an interrupted working-tree update is being settled"


@dataclass
class Entry:
    path: str
    old: str | None  # content id before (None: no file)
    new: str | None  # content id after (None: file removed)


@dataclass
class Recovery:
    what: str
    action: str  # finished | rolled back
    files: int = 0
    left: list[str] = field(default_factory=list)

    def message(self) -> str:
        text = (f"the interrupted {self.what} was {self.action} "
                f"({self.files} working file{'s' if self.files != 1 else ''} updated)")
        if self.left:
            text += "; changed since, left as they are: " + ", ".join(self.left[:5])
        return text


class WorkJournal:
    def __init__(self, repo):
        self.repo = repo
        self.path = repo.pvc_dir / JOURNAL
        self.lock = FileLock(repo.pvc_dir / LOCK)
        self.held = False
        self.recovered: Recovery | None = None
        self.settle_failed = False  # recovery could not write (a read-only folder)

    # -- writing ------------------------------------------------------------------------
    def apply(self, entries: list[Entry], contents: dict[str, bytes], what: str,
              forward: bool = False) -> None:
        """Inside the caller's transaction: journal ENTRIES, then write them. CONTENTS holds
        the new bytes of every entry with a new id (the caller has them in hand)."""
        if not entries:
            return
        if self.path.exists():
            self.settle()
        if not self.held:
            if not self.lock.acquire(10.0):
                raise LockedError("another pvc process is updating the working files",
                                  hint="wait for it to finish and run the command again")
            self.held = True
        jid = secrets.token_hex(8)
        doc = {"id": jid, "what": what, "forward": forward,
               "entries": [[e.path, e.old, e.new] for e in entries]}
        write_atomic(self.path, json.dumps(doc).encode("utf-8"))
        self.repo.store.set_state(STATE_KEY, jid)
        self.repo.store.set_state(RECOVERED_KEY, None)
        for e in entries:
            if e.new is None:
                self.repo.remove_work(e.path)
            else:
                self.repo.write_work_file(e.path, contents[e.path])

    def settle(self) -> Recovery | None:
        """Finish or roll back a journal left behind (ours after our transaction ended, or
        one of a killed process). Returns what was done, or None when there was nothing (or
        another live process holds the lock)."""
        if not self.path.exists():
            self._release()
            return None
        if not self.held:
            if not self.lock.acquire(0):
                return None  # a live process is in the middle of it
            self.held = True
        try:
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                entries = [Entry(*e) for e in doc["entries"]]
            except (OSError, ValueError, TypeError, KeyError):
                # torn before the rename made it whole: nothing was written under it
                self.path.unlink(missing_ok=True)
                return None
            committed = self.repo.store.get_state(STATE_KEY) == doc["id"]
            mine = self.recovered is None and committed
            forward = committed or doc.get("forward", False)
            try:
                rec = self._replay(entries, forward, doc.get("what", "update"))
            except BaseException:
                self._release()
                raise
            self.path.unlink(missing_ok=True)
            fsync_dir(self.path.parent)
            if mine and not rec.files and not rec.left:
                return None  # our own journal after a clean commit: nothing to report
            return rec
        finally:
            self._release()

    def _replay(self, entries: list[Entry], forward: bool, what: str) -> Recovery:
        from .objects import sha256

        rec = Recovery(what, "finished" if forward else "rolled back")
        for e in entries:
            tmp = self.repo.abspath(e.path)
            with contextlib.suppress(OSError):  # a temporary file a kill left behind
                tmp.with_name(f".{tmp.name}.pvc-tmp").unlink()
            want, other = (e.new, e.old) if forward else (e.old, e.new)
            data = self.repo.read_work_bytes(e.path)
            have = sha256(data) if data is not None else None
            if have == want:
                continue
            if have != other:
                rec.left.append(e.path)
                continue
            if want is None:
                self.repo.remove_work(e.path)
            else:
                try:
                    content = self.repo.versions.get(want)
                except Exception:  # noqa: BLE001 - not stored (a merge result never committed)
                    rec.left.append(e.path)
                    continue
                self.repo.write_work_file(e.path, content)
            rec.files += 1
        return rec

    def _release(self) -> None:
        if self.held:
            self.lock.release()
            self.held = False

    def recover(self) -> Recovery | None:
        """At open: settle a journal a killed process left."""
        rec = self.settle()
        if rec is not None:
            self.recovered = rec
            with contextlib.suppress(Exception):  # a read-only store: the note is printed only
                with self.repo.store.transaction():
                    self.repo.store.set_state(RECOVERED_KEY, rec.message())
        return rec


@contextlib.contextmanager
def working_files_still(repo) -> Iterator[str | None]:
    """Inside the caller's database transaction: yield None and keep every other pvc
    process from updating the working files until the block ends (the working-tree lock
    is held), or yield why an automatic writer must wait now (busy_reason's reasons),
    holding nothing. The lock is only tried, never waited for, and only once the
    transaction holds the database: the order every other writer takes them in (database,
    then lock), so the two never wait on each other."""
    if not repo.store.in_transaction:
        raise RuntimeError("working_files_still() runs inside a database transaction")
    if repo.store.get_state("MERGE_HEAD"):
        yield MERGE_BUSY
        return
    if repo.work.held:  # this process is the one updating them
        yield None
        return
    lock = FileLock(repo.pvc_dir / LOCK)
    if not lock.acquire(0):
        yield UPDATE_BUSY
        return
    try:
        yield SETTLE_BUSY if repo.work.path.exists() else None
    finally:
        lock.release()


def busy_reason(repo) -> str | None:
    """Why an automatic writer (the daemon) must wait now, or None: a merge is in progress
    (the user resolves it and runs `pvc merge --continue`), or another pvc process is in the
    middle of updating the working files."""
    if repo.store.get_state("MERGE_HEAD"):
        return MERGE_BUSY
    journal = repo.work
    if journal.held:
        return None
    probe = FileLock(repo.pvc_dir / LOCK)
    if not probe.acquire(0):
        return UPDATE_BUSY
    probe.release()
    if journal.path.exists():
        return SETTLE_BUSY
    return None
