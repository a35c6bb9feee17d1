"""Porcelain: one function per user action that takes several steps.

The CLI, the daemon and the TUI call these instead of orchestrating the library
themselves (after dulwich's ``porcelain``): creating a branch forks a database when the
remote has branch databases; a merge of such a branch refreshes it first, pushes the
result and then deletes or freezes the branch database; promoting an experiment's arm
merges, tags, publishes and stops; pull merges; `sync_step` is the daemon's sync policy
(wait, fetch only, pull, push) for one round. Cloning, adding and removing a remote are
in ``promptvc/remote_setup.py``, re-exported here: front ends import all from this module.

Functions return plain result objects and never print. Where a front end must report a
step as it happens (a merge's outcome is shown before the push that follows it, so a
failing push still leaves the merge on screen), the function takes ``on_event``, called
with one of the ``*Event`` dataclasses below, in order.

May import: the core (``repo``, ``refs``, ``errors``, ``experiments``, ``treemerge``
results, ``journal``'s busy check) and ``promptvc.remote`` (lazily: the network is only
loaded by actions that use it). Must not import click, textual or watchdog, nor print.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import refs as R
from .errors import ErrorCode, PvcError, RemoteError
from .remote_setup import (CloneDone, CloningEvent, RemoteRemoved, add_remote, clone,
                           clone_directory, remove_remote)

if TYPE_CHECKING:  # pragma: no cover - types only
    from .remote.remotes import Remote
    from .remote.fetch import FetchResult, PullResult
    from .remote.push import PushResult
    from .store import BranchDbRow

__all__ = [
    "BranchCreated", "BranchDeleted", "BranchUrl", "MergedEvent", "PushedEvent",
    "BranchDeletedEvent", "BranchFrozenEvent", "CloningEvent", "MergeDone", "PullDone",
    "PushDone", "SyncDone", "SyncStep", "CloneDone", "db_remote", "mapped_branch",
    "resolve_remote", "create_branch", "delete_branch", "branch_url", "refresh_branch",
    "merge_branch", "promote", "pull", "push", "sync", "sync_step", "clone", "clone_directory",
    "RemoteRemoved", "add_remote", "remove_remote",
]

Notify = Callable[[Any], None]


def _ignore(_event: Any) -> None:
    pass


# -- remotes ------------------------------------------------------------------------------------
def resolve_remote(repo, remote: Remote | str | None) -> Remote:
    """REMOTE itself, the remote of that name, or the default remote."""
    from .remote.remotes import Remote, default_remote, get_remote

    if isinstance(remote, Remote):
        return remote
    r = get_remote(repo.config, remote) if remote else default_remote(repo.config)
    return r.with_deadline()  # one deadline for every network call of the command


def db_remote(repo) -> Remote | None:
    """The remote whose branches are databases, or None."""
    from .remote.remotes import list_remotes

    for r in list_remotes(repo.config):
        if r.has_branch_dbs:
            return r
    return None


def mapped_branch(repo, name: str) -> tuple[Remote, BranchDbRow] | None:
    """(remote, mapping row) of branch NAME's live database, or None."""
    from .remote.remotes import list_remotes

    for r in list_remotes(repo.config):
        row = repo.store.branch_db(r.name, name)
        if row is not None and row.state != "deleted":
            return r, row
    return None


# -- branches -----------------------------------------------------------------------------------
@dataclass
class BranchCreated:
    name: str
    commit: str
    database: BranchDbRow | None = None  # with a branch-database remote
    warning: str | None = None  # created, but not pushed yet


def create_branch(repo, name: str, start: str | None = None, *, local_only: bool = False,
                  timestamp: str | None = None) -> BranchCreated:
    """Create branch NAME at START (default HEAD); with a remote that has branch databases
    (and not LOCAL_ONLY), also its database, forked from the current branch's."""
    remote = None if local_only else db_remote(repo)
    if remote is not None:
        from .remote.branch_dbs import create_branch_db

        cid, row, warning = create_branch_db(repo, remote, name, start, timestamp)
        return BranchCreated(name, cid, row, warning)
    return BranchCreated(name, repo.create_branch(name, start))


@dataclass
class BranchDeleted:
    name: str
    target: str  # the commit the branch was at
    database: BranchDbRow | None = None


def delete_branch(repo, name: str, *, force: bool = False) -> BranchDeleted:
    """Delete branch NAME (merged, unless FORCE), and its database if it has one."""
    remote = db_remote(repo)
    mapped = repo.store.branch_db(remote.name, name) if remote is not None else None
    if remote is not None and mapped is not None and mapped.state != "deleted":
        from .remote.branch_dbs import delete_branch_db

        target, row = delete_branch_db(repo, remote, name, force=force)
        return BranchDeleted(name, target, row)
    return BranchDeleted(name, repo.delete_branch(name, force=force))


@dataclass
class BranchUrl:
    branch: str
    database: str | None  # None: the branch lives on the remote's main database
    url: str
    ref: str
    token_file: str | None = None  # where a read-only token was written

    def to_json(self) -> dict:
        return {"branch": self.branch, "database": self.database, "url": self.url,
                "ref": self.ref}


def branch_url(repo, name: str, *, token_file: str | None = None) -> BranchUrl:
    """The URL an application connects to for branch NAME; with TOKEN_FILE, also mint a
    read-only token for its database (Turso) into that file (mode 0600)."""
    from .remote.remotes import default_remote

    remote = db_remote(repo) or default_remote(repo.config)
    row = repo.store.branch_db(remote.name, name)
    if row is not None and row.state != "deleted":
        url, db = row.url, row.db_name
    elif repo.store.get_ref(R.HEADS + name) or repo.store.get_ref(R.REMOTES + f"{remote.name}/{name}"):
        url, db = remote.url, None
    else:
        raise PvcError(f"no branch named '{name}'", error_code=ErrorCode.REF, branch=name,
                       hint="`pvc branch` lists the branches")
    if token_file:
        backend = remote.backend()
        if backend is None or db is None:
            raise PvcError("minting a token needs a branch database on Turso",
                           error_code=ErrorCode.NO_BRANCH_DB, branch=name)
        token = backend.mint_token(db, read_only=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    return BranchUrl(name, db, url, R.HEADS + name, token_file)


def refresh_branch(repo, remote: Remote, name: str, action: str) -> None:
    """Fetch branch NAME's database and fast-forward the local branch to it (ACTION is the
    reflog entry, e.g. "merge: fast-forward from origin")."""
    from .history import is_ancestor
    from .remote.fetch import fetch

    fetch(repo, remote, branches=[name])
    tracking = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{name}")
    local = repo.store.get_ref(R.HEADS + name)
    if tracking and (local is None or is_ancestor(repo.store, local, tracking)) \
            and local != tracking:
        repo.move_ref(R.HEADS + name, local, tracking, action)


# -- merge --------------------------------------------------------------------------------------
@dataclass
class MergedEvent:
    outcome: Any  # treemerge.MergeOutcome
    before: str | None  # HEAD before the merge


@dataclass
class PushedEvent:
    result: PushResult
    remote: Remote


@dataclass
class BranchDeletedEvent:
    name: str
    database: BranchDbRow | None


@dataclass
class BranchFrozenEvent:
    name: str
    database: BranchDbRow


@dataclass
class MergeDone:
    outcome: Any  # treemerge.MergeOutcome
    before: str | None
    pushed: PushResult | None = None
    deleted: bool = False
    frozen: BranchDbRow | None = None

    @property
    def conflicts(self) -> bool:
        return self.outcome.kind == "conflicts"


def _check_freezable(name: str, found: tuple[Remote, BranchDbRow] | None) -> None:
    if found is None:
        raise PvcError(f"branch '{name}' has no database to freeze",
                       error_code=ErrorCode.NO_BRANCH_DB, branch=name)
    remote = found[0]
    backend = remote.backend()
    if backend is None:
        raise PvcError(f"remote '{remote.name}' has no branch-database backend, so the "
                       f"database of branch '{name}' cannot be frozen; nothing was merged",
                       hint="configure --admin-url or --turso-org for the remote",
                       error_code=ErrorCode.NO_BACKEND, branch=name, remote=remote.name)
    if not backend.can_freeze:
        raise PvcError(
            f"{'Turso Cloud' if backend.kind == 'turso' else 'this backend'} has "
            "no per-database write block, so the branch cannot be frozen; nothing was merged",
            hint="use --delete-branch, or merge without --freeze-branch",
            error_code=ErrorCode.BACKEND, branch=name)


def merge_branch(repo, rev: str, *, message: str | None = None, no_ff: bool = False,
                 diff3: bool = False, author: str | None = None, date: str | None = None,
                 delete_branch: bool = False, freeze_branch: bool = False,
                 on_event: Notify = _ignore) -> MergeDone:
    """Merge REV into the current branch. When REV has a branch database: fetch it first
    (fast-forwarding the local branch), push the merge, and with DELETE_BRANCH or
    FREEZE_BRANCH delete the branch database or make it read-only. Without a database,
    DELETE_BRANCH deletes the local branch. Nothing after the merge runs if it conflicts.

    Events, in order: MergedEvent, then PushedEvent, BranchDeletedEvent, BranchFrozenEvent
    for the steps that ran."""
    if delete_branch and freeze_branch:
        raise PvcError("a merged branch can be deleted or frozen, not both")
    found = mapped_branch(repo, rev)
    if freeze_branch:  # refuse before merging anything
        _check_freezable(rev, found)
    if found is not None:
        refresh_branch(repo, found[0], rev, f"merge: fast-forward from {found[0].name}")
    before = repo.head()
    out = repo.merge(rev, message=message, no_ff=no_ff, diff3=diff3, author=author, date=date)
    done = MergeDone(out, before)
    on_event(MergedEvent(out, before))
    if out.kind == "conflicts":
        return done
    if found is not None:
        from .remote.push import push as do_push

        done.pushed = do_push(repo, found[0])
        on_event(PushedEvent(done.pushed, found[0]))
    if delete_branch:
        if found is not None:
            from .remote.branch_dbs import delete_branch_db

            _, row = delete_branch_db(repo, found[0], rev)
            on_event(BranchDeletedEvent(rev, row))
        else:
            repo.delete_branch(rev)
            on_event(BranchDeletedEvent(rev, None))
        done.deleted = True
    if freeze_branch and found is not None:  # (found: checked before the merge)
        from .remote.branch_dbs import freeze_branch_db

        done.frozen = freeze_branch_db(repo, found[0], rev)
        on_event(BranchFrozenEvent(rev, done.frozen))
    return done


# -- experiments --------------------------------------------------------------------------------
def promote(repo, name: str, arm: str, tag: str = "production"):
    """Merge experiment NAME's ARM branch into the control arm's branch (fetching it from
    its database first), move TAG there and publish it, and stop the experiment.
    Returns (experiment, new head)."""
    from .errors import MergeError
    from .experiments import ExperimentError, load, shared_remote, stop

    remote = shared_remote(repo)
    remote = remote.with_deadline() if remote is not None else None  # one deadline in all
    exp, db, warning = load(repo, name, remote=remote)
    db.close()
    if warning:  # promoting from a stale copy would move the label blindly
        raise ExperimentError(f"cannot promote '{name}': {warning.split(': ', 1)[-1]}",
                              hint="run the command again when the remote answers")
    branch = exp.branch_of(arm)
    target = exp.arms[0][1]
    if repo.current_branch() != target:
        raise ExperimentError(f"promote merges into '{target}', but the current branch is "
                              f"'{repo.current_branch()}'", hint=f"run `pvc switch {target}` first")
    if branch != target:
        if remote is not None:
            refresh_branch(repo, remote, branch, "promote: fast-forward")
        out = repo.merge(branch, message=f"Promote {name}: arm {arm} ({branch})")
        if out.kind == "conflicts":
            raise MergeError(f"merging {branch} into {target} conflicts; the experiment was not "
                             "promoted", hint="resolve with `pvc merge --continue`, then run "
                                              "promote again")
        if remote is not None:
            from .remote.push import push as do_push

            do_push(repo, remote)
    repo.tag(tag, "HEAD", force=True, why=f"experiment {name}: promoted arm {arm}, branch {branch}")
    if remote is not None:
        from .remote.tags import push_tags

        push_tags(repo, remote, [tag])
    exp = stop(repo, name, winner=arm, remote=remote)
    return exp, repo.head()


# -- pull, push, sync --------------------------------------------------------------------------
@dataclass
class PullDone:
    remote: Remote
    result: PullResult

    @property
    def outcome(self) -> str:
        return self.result.outcome

    @property
    def fetch(self) -> FetchResult:
        return self.result.fetch


def pull(repo, remote: Remote | str | None = None, branch: str | None = None, *,
         write_conflicts: bool = True) -> PullDone:
    """Fetch, then fast-forward or merge REMOTE's BRANCH (default: the current branch) into
    it. With WRITE_CONFLICTS false a conflicting merge changes nothing (the daemon)."""
    from .remote.fetch import pull as do_pull

    r = resolve_remote(repo, remote)
    return PullDone(r, do_pull(repo, r, branch, write_conflicts=write_conflicts))


@dataclass
class PushDone:
    remote: Remote
    result: PushResult
    tags: list[str] = field(default_factory=list)
    branch_dbs: list = field(default_factory=list)  # (BranchDbRow, action) after a reseed


def push(repo, remote: Remote | str | None = None, branch: str | None = None, *,
         tags: bool = False, force_tags: bool = False, reseed: bool = False,
         progress=None) -> PushDone:
    """Push BRANCH (default: the current one) to REMOTE; with TAGS, publish every tag (by
    compare-and-swap; FORCE_TAGS overwrites tags moved there since the last fetch). RESEED
    sends the whole history to a primary that lost its data. PROGRESS(commits_sent, total)
    is called after each batch of a large push. A reseed of the main database also brings
    back the branch databases this clone knows of (re-created when they are gone)."""
    from .remote.calls import branch_target
    from .remote.push import push as do_push
    from .remote.tags import push_tags

    r = resolve_remote(repo, remote)
    name = branch or repo.current_branch()
    if reseed and name and branch_target(repo, r, name)[1] is not None:
        raise RemoteError(f"branch '{name}' lives in a branch database; the main database is "
                          "re-seeded first, and that brings the branch databases back",
                          hint="`pvc switch main` and `pvc push --reseed`")
    res = do_push(repo, r, branch, reseed=reseed, progress=progress)
    dbs = []
    if reseed:
        from .remote.branch_dbs import reseed_branch_dbs

        dbs = reseed_branch_dbs(repo, r)
    return PushDone(r, res, push_tags(repo, r, force=force_tags) if tags else [], dbs)


@dataclass
class SyncDone:
    remote: Remote
    pulled: PullResult
    pushed: PushResult | None  # None when the pull conflicted (nothing was pushed)
    brought: int = 0  # commits the pull brought into the branch (fetched now or before)


def sync(repo, remote: Remote | str | None = None) -> SyncDone:
    """Pull, then push, so the current branch and the remote are level (see `pull`)."""
    from .remote.fetch import pull as do_pull
    from .remote.push import push as do_push

    r = resolve_remote(repo, remote)
    before = repo.head()
    pulled = do_pull(repo, r, publish_new=True)
    if pulled.outcome == "conflicts":
        return SyncDone(r, pulled, None)
    brought = repo.count_commits(repo.head(), [before]) if repo.head() != before else 0
    return SyncDone(r, pulled, do_push(repo, r), brought)


@dataclass
class SyncStep:
    """One round of an automatic sync (`sync_step`). OUTCOME is one of:

    - ``waiting``: nothing ran (WAITING says why: a merge in progress, another command
      updating the working files);
    - ``fetched-only``: the working folder has uncommitted changes, so nothing was merged
      into it; fetched, then pushed (PUSHED);
    - ``conflicts``: the pull's merge conflicts (CONFLICTS: the paths); nothing was changed
      and nothing pushed;
    - ``refused-non-ff``: the push was refused, the remote has commits this branch lacks
      (the next round pulls them);
    - ``pushed``: commits were pushed; ``pulled``: the pull brought commits and there was
      nothing to push; ``up-to-date``: neither."""

    remote: Remote
    branch: str | None
    outcome: str
    waiting: str | None = None
    conflicts: list[str] = field(default_factory=list)  # this round's, never an older one's
    fetched: FetchResult | None = None  # fetched-only
    pulled: PullResult | None = None
    pushed: PushResult | None = None

    @property
    def updated_work(self) -> bool:
        """Did the pull change the branch and the working files?"""
        return self.pulled is not None and self.pulled.outcome in (
            "fast-forward", "merged", "created")


def sync_step(repo, remote: Remote | str | None = None, *,
              commit_first: Callable[[], None] | None = None) -> SyncStep:
    """One round of the daemon's sync with REMOTE, which never leaves the user's files
    half-merged (`pvc sync` is the interactive one, see `sync`):

    1. during a merge or while another command updates the working files: nothing
       (``waiting``);
    2. with uncommitted changes in the working folder, COMMIT_FIRST (the daemon's autosave
       of what is stable) is called, and if changes remain, only fetch (a merge would write
       files being edited) and push;
    3. else pull without writing conflicts: a conflicting merge changes nothing and ends the
       round (``conflicts``); a branch the remote never had is not pulled, the push
       publishes it (one deleted on the remote raises NO_REMOTE_BRANCH every round);
    4. push the branch (when it has a commit); a refusal because the remote moved on is the
       outcome ``refused-non-ff``, not an error: the next round pulls first.

    Whether to push depends on this round only: conflicts found by an earlier round never
    hold back a push (the user may have merged by hand since). Other failures raise."""
    from .journal import busy_reason
    from .remote.fetch import fetch as do_fetch
    from .remote.fetch import pull as do_pull
    from .remote.push import push as do_push

    r = resolve_remote(repo, remote)
    branch = repo.current_branch()
    waiting = busy_reason(repo)
    if waiting:
        return SyncStep(r, branch, "waiting", waiting=waiting)
    changes, _ = repo.working_changes()
    if changes and commit_first is not None:
        commit_first()
        changes, _ = repo.working_changes()
    step = SyncStep(r, branch, "fetched-only" if changes else "up-to-date")
    if changes:
        step.fetched = do_fetch(repo, r)
    else:
        step.pulled = do_pull(repo, r, branch, write_conflicts=False, publish_new=True)
        if step.pulled.outcome == "conflicts":
            step.outcome = "conflicts"
            step.conflicts = [c.path for c in step.pulled.conflicts]
            return step
        if step.pulled.outcome not in ("up-to-date", "not-on-remote"):
            step.outcome = "pulled"
    if repo.head() is None:
        return step
    try:
        step.pushed = do_push(repo, r, branch)
    except PvcError as exc:
        if exc.error_code is not ErrorCode.NON_FAST_FORWARD:
            raise
        step.outcome = "refused-non-ff"
        return step
    if not step.pushed.up_to_date and step.outcome != "fetched-only":
        step.outcome = "pushed"
    return step
