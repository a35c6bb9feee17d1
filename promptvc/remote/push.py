"""push: send a branch's new commits to its primary, as one atomic batch or several.

A push sends, in ONE atomic Hrana batch (one HTTP round trip), every object the primary may
lack (versions, commits, change rows; `INSERT OR IGNORE`, ids are content hashes, so a replay
is harmless) followed by a compare-and-swap of the remote branch. A stale branch makes the
CAS step fail, the batch rolls back, and nothing of it remains. A large push (more than
``BATCH_COMMITS`` commits or ``BATCH_BYTES`` of data) sends its objects in several atomic
batches, oldest commits first, with the CAS only in the last one; the local state records
the newest commit of each batch that landed, so a push that was interrupted resumes after it
(checked on the primary first). A commit never needs the remote: only push talks to it.

May import: the standard library, ``refs``, ``errors``, ``history``, promptvc/store (rows,
and ``primary`` for every statement sent), and the remote modules below it (``calls``,
``hrana``, ``replica``, ``remotes``, ``team``). Not ``fetch``, ``tags`` or ``clone``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from .. import refs as R
from ..errors import ErrorCode, IntegrityError, RemoteError
from ..history import is_ancestor, walk
from ..store import ChangeRow, CommitRow, VersionRow, primary
from ..store.primary import Refusal, Statement
from . import hrana
from .calls import (branch_target, check_not_lost, format_error, main_tracking, read_remote_ref,
                    replica_path, with_retries)
from .remotes import Remote
from .replica import ReplicaReader


@dataclass
class PushResult:
    branch: str
    old: str | None
    new: str
    commits: int
    versions: int
    requests: int
    up_to_date: bool = False
    url: str = ""
    resumed: bool = False  # an interrupted earlier push was continued


def objects_to_push(repo, head: str, remote: Remote, reader: Replica,
                    known: list[str] | None = None
                    ) -> tuple[list[CommitRow], list[VersionRow], list[ChangeRow]]:
    """Commits reachable from HEAD that the remote is not known to have, with the versions
    (and their diff bases) they need."""
    if known is None:
        known = [t for _, t in repo.store.list_refs(f"{R.REMOTES}{remote.name}/")]
    commits = [c for c in walk(repo.store, [head], known or [])  # stops at what is known
               if not reader.has_commit(c.id)]
    commits.reverse()  # oldest first
    seen: set[str] = set()
    changes: list[ChangeRow] = []
    versions: list[VersionRow] = []
    for c in commits:
        rows = repo.store.changes_of(c.id)
        changes.extend(rows)
        versions.extend(_versions_needed(repo, reader, c.id, needs_of(c, rows), seen))
    return commits, versions, changes


def needs_of(commit: CommitRow, rows: list[ChangeRow]) -> list[str | None]:
    """The versions COMMIT points at: its tree, then each version its change rows made."""
    return [commit.tree_id] + [r.version_id for r in rows]


def _versions_needed(repo, reader, cid: str, vids: list[str | None], seen: set[str]
                     ) -> Iterator[VersionRow]:
    """The version rows commit CID needs that the remote lacks: VIDS (its tree and the
    versions its changes made), each with the diff bases under it, stopping at a version the
    remote has or one already in SEEN (which this extends)."""
    for vid in vids:
        while vid and vid not in seen:
            seen.add(vid)
            if reader.has_version(vid):
                break
            row = repo.store.get_version_row(vid)
            if row is None:
                raise IntegrityError(f"version {vid[:12]} needed by commit {cid[:12]} is "
                                     "missing locally", hint="run `pvc fsck`")
            yield row
            vid = row.parent_version_id if row.storage == "diff" else None


def push(repo, remote: Remote, branch: str | None = None, *, force_init: bool = False,
         reseed: bool = False,
         progress: Callable[[int, int | None], None] | None = None) -> PushResult:
    """Push BRANCH (default: the current one). A large push goes as several batches;
    PROGRESS(commits sent, None) is called after each batch but the last. RESEED: the
    primary lost its data (``PrimaryLost``, from ``calls.check_not_lost``); send the whole
    history of BRANCH as if the primary were new, without trusting the (stale) replica."""
    branch = branch or repo.current_branch()
    if branch:
        target, db_name = branch_target(repo, remote, branch)
        if db_name is not None:
            if reseed:  # its database was re-created (branches.reseed_branch_dbs)
                from .replica import remove_replica

                remove_replica(replica_path(repo, remote, db_name))
                with repo.store.transaction():
                    repo.store.set_state(f"remote.initialized.{target.url}", None)
                return _push(repo, target, branch, db_name, True, reseed=True,
                             progress=progress)
            return _push(repo, target, branch, db_name, force_init, progress=progress)
    if reseed:
        from .replica import remove_replica

        remove_replica(replica_path(repo, remote))  # its old frames would hide the new data
        with repo.store.transaction():
            for name, _ in repo.tags():
                repo.store.set_state(f"fetched.{remote.name}.{R.TAGS + name}", None)
            repo.store.set_state(f"remote.initialized.{remote.url}", None)
            from .team import forget_recorded

            forget_recorded(repo, remote)  # the team settings went with the data
        return _push(repo, remote, branch, None, True, reseed=True, progress=progress)
    return _push(repo, remote, branch, None, force_init, progress=progress)


class Replica(Protocol):
    """What a push asks of the replica: which objects the primary had at the last sync."""

    def has_commit(self, cid: str) -> bool: ...

    def has_version(self, vid: str) -> bool: ...

    def close(self) -> None: ...


class _NoReplica:
    """A replica that knows nothing (re-seeding must not trust the old one)."""

    def has_commit(self, cid: str) -> bool:
        return False

    def has_version(self, vid: str) -> bool:
        return False

    def close(self) -> None:
        pass


def _push(repo, remote: Remote, branch: str | None, db_name: str | None,
          force_init: bool, expected: str | None = None, reseed: bool = False,
          progress=None) -> PushResult:
    """EXPECTED: where the remote branch really is, when our tracking ref is behind it (a
    push of ours that landed but was not recorded: the process died after the request)."""
    if not branch:
        raise RemoteError("HEAD is not on a branch", hint="give the branch: pvc push origin NAME")
    local_ref = R.HEADS + branch
    head = repo.store.get_ref(local_ref)
    if head is None:
        raise RemoteError(f"branch '{branch}' has no commits to push",
                          hint="commit first, or name another branch")
    tracking_ref = f"{R.REMOTES}{remote.name}/{branch}"
    tracking = expected or repo.store.get_ref(tracking_ref)
    if reseed and expected is None:  # (a retry of a reseed moves the ref where it found it)
        tracking = None
    if tracking == head and not reseed:
        return PushResult(branch, tracking, head, 0, 0, 0, up_to_date=True, url=remote.url)
    if tracking is not None and not is_ancestor(repo.store, tracking, head):
        raise _non_ff(remote, branch)
    reader: Replica = _NoReplica() if reseed else ReplicaReader(
        replica_path(repo, remote, db_name))
    token = remote.token()
    deadline = remote.deadline()  # one deadline per command (a batch that lands renews it)
    client = hrana.HranaClient(remote.http_url, auth_token=token, timeout=remote.timeout)
    progress_key = f"push.progress.{remote.url}.{branch}"
    author = repo.author()
    from ..clock import now_iso

    at = now_iso()
    remote_ref = R.HEADS + branch
    init_key = f"remote.initialized.{remote.url}"
    init = force_init or repo.store.get_state(init_key) != "1"
    sent = [0, 0]  # commits, versions sent by this run
    guarded: dict[str, str] = {}  # branch -> its tracking commit, left out as on the primary
    try:
        if reseed:
            known: list[str] = []
        elif db_name is not None:  # a branch database knows only its own branch for sure,
            known = [tracking] if tracking else []  # and what it was forked from
            row = repo.store.branch_db(remote.name, branch)
            if not tracking and row is not None and row.parent:
                parent = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{row.parent}")
                known += [parent] if parent else []
        else:
            guarded = main_tracking(repo, remote)  # left out as on the primary: checked there
            known = list(guarded.values())
        # an earlier push of this branch that stopped between batches: what it sent is there
        resume = repo.store.get_state(progress_key)
        if resume and resume != head and is_ancestor(repo.store, resume, head) \
                and _remote_has_commit(remote, client, deadline, resume):
            known.append(resume)
        else:
            resume = None
        batches = push_batches(repo, head, reader, known, *_batch_limits())
        pending = next(batches)
        for following in batches:  # every batch but the last: objects only, no ref moves
            init = _send_objects(remote, client, deadline, pending, init, branch)
            sent[0] += len(pending.commits)
            sent[1] += len(pending.versions)
            with repo.store.transaction():
                if init:
                    repo.store.set_state(init_key, "1")
                    init = False
                repo.store.set_state(progress_key, pending.commits[-1].id)
            if progress is not None:
                progress(sent[0], None)
            deadline = time.monotonic() + remote.timeout
            pending = following
    except BaseException:
        client.close()
        raise
    finally:
        reader.close()
    commits, versions, changes = pending.commits, pending.versions, pending.changes
    total = sent[0] + len(commits)
    stmts: list[Statement] = []
    if init:
        stmts += primary.shared_ddl()
    stmts.append(primary.writer_announce())
    stmts += primary.object_statements(versions, commits, changes)
    team_fp = None
    if db_name is None:  # the team's branch-database backend, for clones (remote/team.py)
        from .team import record_statements

        team_stmts, team_fp = record_statements(repo, remote)
        stmts += team_stmts
    # what is left out as already on the primary must still be there (a primary re-seeded by
    # another clone with less history would get a commit without its parents otherwise)
    guard_step = len(stmts) if guarded else -1
    if guarded:
        stmts += primary.commits_guard(list(guarded.values()))
    cas_step = len(stmts)
    if tracking is None:
        stmts.append(primary.create_ref(remote_ref, head, at))
    else:
        stmts += primary.move_ref(remote_ref, tracking, head, at)
    stmts.append(primary.append_reflog(remote_ref, tracking, head, author, at,
                                       f"push: {total} commit(s)"))
    stmts.append(primary.WRITER_DONE)

    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return client.batch(stmts)
        except hrana.StatementError as exc:
            if exc.step is not None and exc.step == guard_step:
                check_not_lost(repo, remote, client, deadline, guarded, "pushed", prefer=branch)
                raise _non_ff(remote, branch) from None  # (it came back meanwhile: retry)
            if exc.step is not None and exc.step >= cas_step:
                # our CAS lost; maybe an earlier attempt of ours already succeeded
                client.timeout = max(1.0, deadline - time.monotonic())
                now = read_remote_ref(client, remote_ref)
                if now == head:
                    if reseed:  # the ref is right, but its objects may be missing: send them
                        client.batch(stmts[:cas_step] + [primary.WRITER_DONE])
                    return None
                if now is not None and now != tracking and is_ancestor(repo.store, now, head):
                    raise _BehindRemote(now) from None  # our own earlier push landed
                if now is None and tracking is not None:  # PrimaryLost, when it is
                    check_not_lost(repo, remote, client, deadline, {branch: tracking}, "pushed")
                raise _non_ff(remote, branch) from None
            if exc.refusal.missing_table and not init:
                raise _Uninitialized() from None
            refused = format_error(remote, exc)
            if refused is not None:
                raise refused from None
            raise

    try:
        with_retries(remote, deadline, attempt, f"push {branch}")
    except _Uninitialized:
        client.close()
        return _push(repo, remote, branch, db_name, True, expected, reseed=reseed, progress=progress)
    except _BehindRemote as behind:
        client.close()
        if expected is not None:
            raise _non_ff(remote, branch) from None
        return _push(repo, remote, branch, db_name, force_init, behind.target, reseed=reseed,
                     progress=progress)
    finally:
        requests = client.requests
        client.close()
    with repo.store.transaction():
        if init:
            repo.store.set_state(init_key, "1")
        repo.store.set_state(progress_key, None)
        if team_fp is not None:
            from .team import remember_recorded

            remember_recorded(repo, remote, team_fp)
        current = repo.store.get_ref(tracking_ref)
        repo.store.cas_ref(tracking_ref, current, head, at=at)
        repo.store.append_reflog(tracking_ref, current, head, author, at, "update by push")
    return PushResult(branch, tracking, head, total, sent[1] + len(versions), requests,
                      url=remote.url, resumed=resume is not None)


# -- batches of a large push ---------------------------------------------------------------------
#: a push of more than this is split into several atomic requests: objects first (INSERT OR
#: IGNORE, so a repeated batch is harmless), the branch's compare-and-swap in the last one
BATCH_COMMITS = 1000
BATCH_BYTES = 8 * 2**20


def _batch_limits() -> tuple[int, int]:
    """(commits, stored bytes) per batch; PVC_PUSH_BATCH_COMMITS overrides the first."""
    import os

    try:
        commits = int(os.environ.get("PVC_PUSH_BATCH_COMMITS", BATCH_COMMITS))
    except ValueError:
        commits = BATCH_COMMITS
    return max(1, commits), BATCH_BYTES


@dataclass
class PushBatch:
    commits: list[CommitRow] = field(default_factory=list)
    versions: list[VersionRow] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)
    bytes: int = 0


def push_batches(repo, head: str, reader: Replica, known: list[str],
                 max_commits: int = BATCH_COMMITS, max_bytes: int = BATCH_BYTES
                 ) -> Iterator[PushBatch]:
    """The commits reachable from HEAD and not from KNOWN that the replica lacks, oldest
    first, with the versions (and diff bases) they need, in batches of at most MAX_COMMITS
    commits or about MAX_BYTES of stored data. Every batch holds everything its commits need
    that earlier batches and the remote do not: after any prefix of batches, the primary
    has complete commits. Always yields at least one (possibly empty) batch."""
    ids = [c.id for c in walk(repo.store, [head], known)]  # newest first; ids only
    ids.reverse()
    seen: set[str] = set()
    batch = PushBatch()
    for cid in ids:
        if reader.has_commit(cid):
            continue
        c = repo.store.get_commit(cid)
        rows = repo.store.changes_of(cid)
        for row in _versions_needed(repo, reader, cid, needs_of(c, rows), seen):
            batch.versions.append(row)
            batch.bytes += len(row.data)
        batch.commits.append(c)
        batch.changes.extend(rows)
        if len(batch.commits) >= max_commits or batch.bytes >= max_bytes:
            yield batch
            batch = PushBatch()
    yield batch


def _send_objects(remote: Remote, client: hrana.HranaClient, deadline: float, batch: PushBatch,
                  init: bool, branch: str) -> bool:
    """Send one batch of objects (atomic; retried). Returns whether the primary still needs
    its tables created (False once this batch created them)."""
    stmts = primary.shared_ddl() if init else []
    stmts.append(primary.writer_announce())
    stmts += primary.object_statements(batch.versions, batch.commits, batch.changes)
    stmts.append(primary.WRITER_DONE)

    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return client.batch(stmts)
        except hrana.StatementError as exc:
            # a table is missing (and the primary is not format 1, which format_error names)
            if not init and exc.refusal is Refusal.NO_SUCH_TABLE:
                raise _Uninitialized() from None
            raise

    try:
        with_retries(remote, deadline, attempt, f"push {branch}")
    except _Uninitialized:
        return _send_objects(remote, client, deadline, batch, True, branch)
    return False


def _remote_has_commit(remote: Remote, client: hrana.HranaClient, deadline: float,
                       cid: str) -> bool:
    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return bool(client.execute(*primary.has_commit(cid)).rows)
        except hrana.StatementError:
            return False

    return bool(with_retries(remote, deadline, attempt, "check an interrupted push"))


class _Uninitialized(Exception):
    pass


class _BehindRemote(Exception):
    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


def _non_ff(remote: Remote, branch: str) -> RemoteError:
    from ..errors import NonFastForward

    return NonFastForward(
        f"non-fast-forward: {remote.name}/{branch} has commits that your {branch} does not have; "
        "nothing was pushed",
        hint=f"run `pvc pull {remote.name} {branch}` first (it merges them), then push again",
        error_code=ErrorCode.NON_FAST_FORWARD,
    )
