"""fetch and pull: bring a primary's new commits, branches and tags into this repository.

A fetch syncs the embedded replica (`.pvc/remotes/NAME.db`, see ``calls.sync``) in a child
process with a hard deadline, then copies the commits it lacks, read-only, from the replica
file into the local database, checking every row on the way (``incoming``: a primary is
untrusted) and every commit id and version hash. The main database gives the unmapped
branches, the tags and the branch -> database mapping; each branch database gives its own
branch. A pull is a fetch of one branch, then a fast-forward or a merge.

May import: the standard library, ``refs``, ``errors``, ``history``, ``clock``, ``search``
(lazily), promptvc/store (rows; the replica reader), and the remote modules below it
(``calls``, ``hrana``, ``incoming``, ``replica``, ``remotes``, ``team``). Not ``push``,
``tags`` or ``clone``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .. import refs as R
from ..errors import ErrorCode, PvcError, RemoteError
from ..history import is_ancestor
from ..store import ChangeRow, CommitRow, parents_first
from .calls import check_not_lost, main_tracking, replica_path, sync_with_retries
from .incoming import (TreeCheck, bad_input, check_mapping, check_refs, incoming_commit,
                       incoming_version, version_row)
from .remotes import Remote
from .replica import ReplicaReader

if TYPE_CHECKING:
    from ..treemerge import Conflict, MergeOutcome


@dataclass
class FetchResult:
    updated: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)  # branches deleted on the remote
    commits: int = 0
    versions: int = 0
    seconds: float = 0.0


def fetch(repo, remote: Remote, *, do_sync: bool = True,
          branches: list[str] | None = None,
          progress: Callable[[int, int], None] | None = None) -> FetchResult:
    """Sync the replicas and import what they have that we lack. Before the replica is
    read (or when its sync is refused), a primary that lacks a commit this clone saw on its
    main database is refused (``calls.check_not_lost``: PrimaryLost, nothing moved, the
    stale replicas deleted).

    The main database gives the unmapped branches and the branch -> database mapping; each
    branch database gives its own branch. BRANCHES limits which branch databases are synced
    (the main database always is). PROGRESS(i, total) is called as each new version is
    checked (0-based I)."""
    result = FetchResult()
    started = time.monotonic()
    deadline = remote.deadline()
    if do_sync:
        from .hrana import HranaClient

        def not_lost() -> None:
            with HranaClient(remote.http_url, auth_token=remote.token(),
                             timeout=max(0.1, deadline - time.monotonic())) as client:
                check_not_lost(repo, remote, client, deadline, main_tracking(repo, remote),
                               "fetched", prefer=repo.current_branch())

        try:
            sync_with_retries(repo, remote, deadline, None)
        except PvcError as exc:
            if not exc.transient:  # a re-created primary may refuse the replica's sync
                not_lost()
            raise
        # before the replica is read: has the primary kept what this clone saw there? (a
        # re-created primary may leave the replica its old rows, which must move nothing)
        not_lost()
    main = ReplicaReader(replica_path(repo, remote))
    try:
        from .team import adopt

        adopt(repo.config, remote.name, main.team_settings())
        mapping = main.branch_dbs()
        check_mapping(remote, mapping)  # before a row names a file or a host
        sources: list[tuple[ReplicaReader, dict[str, str]]] = []
        main_refs = {k: v for k, v in main.refs(R.HEADS).items()
                     if k[len(R.HEADS):] not in mapping
                     or mapping[k[len(R.HEADS):]]["state"] == "deleted"}
        sources.append((main, main_refs))
        tags = main.refs(R.TAGS)
        sources.append((main, tags))  # tag targets' history comes along
        readers = []
        for branch, row in sorted(mapping.items()):
            if row["state"] == "deleted":
                continue
            path = replica_path(repo, remote, row["db_name"])
            if do_sync and (branches is None or branch in branches):
                sync_with_retries(repo, remote.for_database(row["url"]), deadline, row["db_name"])
            reader = ReplicaReader(path)
            readers.append(reader)
            ref = reader.refs(R.HEADS).get(R.HEADS + branch)
            if ref:
                sources.append((reader, {R.HEADS + branch: ref}))
        try:
            _import(repo, remote, sources, mapping, result, progress)
        finally:
            for r in readers:
                r.close()
    finally:
        main.close()
    from ..search import after_write

    # the search index's text for the fetched versions
    after_write(repo, budget_s=None, max_bytes=None)
    result.seconds = time.monotonic() - started
    return result


def _import(repo, remote: Remote, sources, mapping: dict[str, dict], result: FetchResult,
            progress: Callable[[int, int], None] | None = None) -> None:
    check_mapping(remote, mapping)
    for _, refs in sources:
        check_refs(remote, refs)
    # The walk checks every new row and keeps only ids and links (memory: about 100 bytes a
    # row, not the rows); the transaction reads each row again from its reader, checks it
    # again, and writes it in dependency order.
    # commit id -> (reader, tree, parents, generation); version id -> (reader, diff base)
    new_commits: dict[str, tuple[int, str, tuple[str, ...], int]] = {}
    versions: dict[str, tuple[int, str | None]] = {}
    remote_refs: dict[str, str] = {}
    for src, (reader, refs) in enumerate(sources):
        remote_refs.update(refs)
        for target in refs.values():
            stack = [target]
            while stack:
                cid = stack.pop()
                if cid in new_commits or repo.store.get_commit(cid) is not None:
                    continue
                row, chs = incoming_commit(remote, reader, cid)
                parents = tuple(p for p in (row[2], row[3]) if p)
                new_commits[cid] = (src, row[1], parents, row[7])
                stack.extend(parents)
                for vid in [row[1]] + [c[4] for c in chs if c[4]]:
                    while vid and vid not in versions and not repo.store.has_version(vid):
                        v = incoming_version(remote, reader, vid)
                        base = v[2] if v[5] == "diff" else None
                        versions[vid] = (src, base)
                        vid = base
    readers = [reader for reader, _ in sources]
    author = repo.author()
    from ..clock import now_iso
    from ..store import BranchDbRow

    at = now_iso()
    with repo.store.transaction():
        mark = repo.store.last_version_mark()
        for vid in _bases_first({vid: base for vid, (_, base) in versions.items()}):
            src, base = versions[vid]
            v = incoming_version(remote, readers[src], vid)
            if (v[2] if v[5] == "diff" else None) != base:
                raise bad_input(remote, f"version {vid[:12]} changed while it was fetched")
            repo.store.insert_version(version_row(v))
        # parents first; otherwise in generation order, as the primary numbered them
        by_generation = sorted(new_commits, key=lambda c: (new_commits[c][3], c))
        for cid in parents_first({c: new_commits[c][2] for c in by_generation}):
            row, chs = incoming_commit(remote, readers[new_commits[cid][0]], cid)
            if tuple(p for p in (row[2], row[3]) if p) != new_commits[cid][2]:
                raise bad_input(remote, f"commit {cid[:12]} changed while it was fetched")
            repo.store.insert_commit(CommitRow(*row))
            repo.store.insert_changes(ChangeRow(*c) for c in chs)
        # every new version must rebuild to its hash before anything points at it: streamed
        # in stored order (bases first), so each costs one diff apply; trees are checked
        # as they go by
        trees = TreeCheck(remote, {cid: info[1] for cid, info in new_commits.items()})
        for i, (row, data) in enumerate(repo.versions.stream(kind=None, after=mark)):
            if row.kind == "tree":
                trees.content(row.id, data)
            if progress is not None:
                progress(i, len(versions))
        trees.rest(repo)
        for branch, m in mapping.items():
            repo.store.put_branch_db(BranchDbRow(remote.name, branch, m["db_name"], m["url"],
                                                 m["parent"], m["created_at"], m["state"]))
        prefix = f"{R.REMOTES}{remote.name}/"
        for name, target in remote_refs.items():
            if name.startswith(R.TAGS):
                # a tag we do not have is created; one the remote moved (a promotion) moves
                # here too, unless it was moved here since the last fetch (ours wins)
                seen_key = f"fetched.{remote.name}.{name}"
                local, seen = repo.store.get_ref(name), repo.store.get_state(seen_key)
                if repo.store.get_commit(target) and local != target and (
                        local is None or local == seen):
                    repo.store.cas_ref(name, local, target, at=at)
                    repo.store.append_reflog(name, local, target, author, at,
                                             f"fetch: tag {'moved' if local else 'created'} "
                                             f"on {remote.name}")
                repo.store.set_state(seen_key, target)
                continue
            short = name[len(R.HEADS):]
            local = prefix + short
            old = repo.store.get_ref(local)
            if old == target:
                continue
            repo.store.cas_ref(local, old, target, at=at)
            repo.store.append_reflog(local, old, target, author, at,
                                     "fetch: created" if old is None else "fetch: updated")
            result.updated[short] = (old, target)
        for name, target in repo.store.list_refs(prefix):
            if R.HEADS + name[len(prefix):] not in remote_refs:  # a branch gone from the remote
                repo.store.cas_ref(name, target, None, at=at)
                repo.store.append_reflog(name, target, None, author, at, PRUNED)
                result.pruned.append(name[len(prefix):])
    result.commits = len(new_commits)
    result.versions = len(versions)


def _bases_first(bases: dict[str, str | None]) -> list[str]:
    """The ids of BASES (id -> its diff base, None for a snapshot) ordered so that a base
    in BASES comes before the versions diffed against it."""
    out: list[str] = []
    placed: set[str] = set()
    for start in bases:
        vid: str | None = start
        line: list[str] = []
        while vid is not None and vid in bases and vid not in placed and vid not in line:
            line.append(vid)
            vid = bases[vid]
        for v in reversed(line):
            placed.add(v)
            out.append(v)
    return out


def remote_branches(repo, remote: Remote) -> dict[str, str]:
    reader = ReplicaReader(replica_path(repo, remote))
    try:
        return {k[len(R.HEADS):]: v for k, v in reader.refs(R.HEADS).items()}
    finally:
        reader.close()


# -- pull ---------------------------------------------------------------------------------------
@dataclass
class PullResult:
    fetch: FetchResult
    # up-to-date | fast-forward | merged | conflicts | created; not-on-remote: a branch never
    # pushed, with publish_new (nothing was pulled; a push will create it)
    outcome: str
    merge: MergeOutcome | None = None  # the merge a pull ran (merged or conflicts)

    @property
    def conflicts(self) -> list[Conflict]:
        """The conflicting paths of a pull that ended in conflicts (else empty)."""
        return self.merge.conflicts if self.merge is not None else []


#: the reflog action of a tracking branch that a fetch found gone from the remote
PRUNED = "fetch: pruned"


def gone_from_remote(repo, remote: Remote, branch: str) -> bool:
    """Whether REMOTE had BRANCH once and a fetch found it deleted there (rather than it
    never having been pushed): the last move of its tracking branch is a prune."""
    last = repo.store.reflog(f"{R.REMOTES}{remote.name}/{branch}", 1)
    return bool(last) and last[0].new is None and last[0].action == PRUNED


def pull(repo, remote: Remote, branch: str | None = None, *,
         write_conflicts: bool = True, publish_new: bool = False) -> PullResult:
    """Fetch BRANCH (default: the current one), then fast-forward or merge it. A branch
    REMOTE does not have is an error (NO_REMOTE_BRANCH), unless PUBLISH_NEW and it was never
    there: then nothing is pulled (outcome ``not-on-remote``) and the caller's push creates
    it. A branch deleted on the remote is never brought back without being asked."""
    branch = branch or repo.current_branch()
    if not branch:
        raise RemoteError("HEAD is not on a branch", hint="switch to a branch first")
    if repo.store.get_state("MERGE_HEAD"):
        raise RemoteError("a merge is in progress",
                          hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
    fr = fetch(repo, remote, branches=[branch])
    tracking = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{branch}")
    if tracking is None:
        if gone_from_remote(repo, remote, branch):
            raise RemoteError(f"branch '{branch}' was deleted on {remote.name}",
                              hint=f"publish it again with `pvc push {remote.name} {branch}`, "
                                   f"or delete it here with `pvc branch -d {branch}`",
                              error_code=ErrorCode.NO_REMOTE_BRANCH)
        if publish_new:
            return PullResult(fr, "not-on-remote")
        raise RemoteError(f"{remote.name} has no branch '{branch}'",
                          hint=f"push it with `pvc push {remote.name} {branch}`",
                          error_code=ErrorCode.NO_REMOTE_BRANCH)
    if repo.current_branch() == branch and repo.head() is None:
        with repo.updating_work():
            changes, head_tree = repo.working_changes()
            repo.checkout_trees(head_tree, repo.tree(tracking), changes, what="pull")
            repo.move_ref(R.HEADS + branch, None, tracking, f"pull: from {remote.name}")
        return PullResult(fr, "created")
    if repo.current_branch() != branch:
        local = repo.store.get_ref(R.HEADS + branch)
        if local is None or is_ancestor(repo.store, local, tracking):
            repo.move_ref(R.HEADS + branch, local, tracking, f"pull: fast-forward from {remote.name}")
            return PullResult(fr, "fast-forward")
        raise RemoteError(f"'{branch}' is not the current branch and cannot be fast-forwarded",
                          hint=f"switch to it and pull again: `pvc switch {branch}`")
    out = repo.merge(f"{remote.name}/{branch}",
                     message=f"Merge {remote.name}/{branch} into {branch}",
                     write_conflicts=write_conflicts)
    return PullResult(fr, out.kind, out)
