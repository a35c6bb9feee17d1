"""`pvc fsck --repair`: restore damaged objects from every copy pvc can find.

For a damaged version (a prompt's content or a tree manifest), in this order:

1. the remote: the same row in a replica of the primary (or of a branch database);
2. the working folder: a file whose content has that SHA-256;
3. another chain: a child version stored as a diff against the damaged one, whose own
   content is known (from 1 or 2), with its diff applied backwards.

A recovered content is written back as a full snapshot (its id is its hash, so nothing that
points at it changes) and the chain bookkeeping of its descendants is recomputed. Commits
come back from the remote (their ids are checked), change index rows are rebuilt from the
trees, and a ref that disagrees with its reflog is put back where its last recorded move
left it. Whatever cannot be restored is listed, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import delta
from .errors import IntegrityError, PvcError
from .objects import commit_id, sha256


@dataclass
class RepairReport:
    restored: list[tuple[str, str, str]] = field(default_factory=list)  # (object, what, source)
    remaining: list = field(default_factory=list)  # fsck problems left
    synced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining


def reverse_delta(diff: bytes) -> bytes:
    """The diff that undoes DIFF (hunk ranges swapped, '+' and '-' exchanged)."""
    out = []
    for h in delta.parse_hunks(diff):
        lines = []
        for line in h.lines:
            tag = line[:1]
            lines.append((b"-" if tag == b"+" else b"+" if tag == b"-" else tag) + line[1:])
        out.append(delta.Hunk(h.new_start, h.new_count, h.old_start, h.old_count, lines))
    return delta.format_hunks(out)


def _replicas(repo, sync: bool, report: RepairReport):
    from .remote.remotes import list_remotes
    from .remote.replica import ReplicaReader
    from .remote.transfer import replica_path
    from .remote.transfer import sync as do_sync

    readers = []
    for remote in list_remotes(repo.config):
        targets = [(remote, None)]
        for row in repo.store.branch_dbs(remote.name):
            if row.state != "deleted":
                targets.append((remote.for_database(row.url), row.db_name))
        for target, db_name in targets:
            if sync:
                try:
                    do_sync(repo, target, None, db_name)
                    report.synced.append(db_name or remote.name)
                except PvcError:
                    pass  # use whatever copy is on disk
            path = replica_path(repo, remote, db_name)
            if path.exists():
                readers.append(ReplicaReader(path))
    return readers


def repair(repo, *, sync: bool = True) -> RepairReport:
    from .fsck import ProblemCode, check

    report = RepairReport()
    first = check(repo)
    if first.ok:
        return report
    readers = _replicas(repo, sync, report)
    store, vs = repo.store, repo.versions
    try:
        # a version whose diff base is damaged is whole once its base is restored
        damaged = {p.object for p in first.problems if p.kind == "version"
                   and p.code is not ProblemCode.DIFF_BASE_DAMAGED}
        damaged |= {p.object for p in first.problems if p.code is ProblemCode.TREE_DAMAGED}
        known: dict[str, bytes] = {}

        def from_remote(vid: str) -> bytes | None:
            for r in readers:
                row = r.version(vid)
                if row is None:
                    continue
                from .store import VersionRow

                fields = list(row)
                fields[7] = bytes(fields[7])  # the replica hands back a memoryview
                vrow = VersionRow(*fields)
                try:
                    data = vs.decode_row(vrow)
                    if vrow.storage == "diff":
                        base = content_of(vrow.parent_version_id, depth=0)
                        if base is None:
                            continue
                        data = delta.apply_delta(base, data)
                except (IntegrityError, delta.DeltaError):
                    continue
                if sha256(data) == vid:
                    return data
            return None

        work_index: dict[str, bytes] | None = None

        def from_work(vid: str) -> bytes | None:
            nonlocal work_index
            if work_index is None:
                work_index = {}
                for rel in list(store.tracked()):
                    data = repo.read_work_file(rel)
                    if data is not None:
                        work_index[sha256(data)] = data
            return work_index.get(vid)

        def content_of(vid: str | None, depth: int) -> bytes | None:
            if vid is None:
                return None
            if vid in known:
                return known[vid]
            if vid not in damaged:
                try:
                    return vs.get(vid)
                except IntegrityError:
                    pass
            if depth > 200:
                return None
            data = from_remote(vid) or from_work(vid)
            if data is None:
                for child in store.children_of(vid):
                    child_data = content_of(child.id, depth + 1)
                    if child_data is None:
                        continue
                    try:
                        cand = delta.apply_delta(child_data, reverse_delta(vs.decode_row(child)))
                    except (IntegrityError, delta.DeltaError):
                        continue
                    if sha256(cand) == vid:
                        data = cand
                        break
            if data is not None:
                known[vid] = data
            return data

        with store.transaction():
            for vid in sorted(damaged):
                row = store.get_version_row(vid)
                data = content_of(vid, 0)
                if data is None or row is None:
                    continue
                source = ("the remote" if from_remote(vid) is not None else
                          "the working folder" if from_work(vid) is not None else "another chain")
                store.replace_with_snapshot(vid, data, vs.policy)
                # (nothing to forget in the version cache: it only ever holds verified texts)
                report.restored.append((vid, row.path or row.kind, source))
            # chain bookkeeping of every diff row, parents first
            _recompute_chains(repo)
            # commits from the remote
            for p in first.problems:
                if p.code is ProblemCode.COMMIT_ID:
                    for r in readers:
                        row = r.commit(p.object)
                        if row and commit_id(row[1], tuple(x for x in (row[2], row[3]) if x),
                                             row[4], row[5], row[6]) == p.object:
                            store.replace_commit(row)
                            report.restored.append((p.object, "commit", "the remote"))
                            break
            # change index rebuilt from the trees
            for p in first.problems:
                if p.code is ProblemCode.CHANGE_INDEX:
                    _rebuild_changes(repo, p.object)
                    report.restored.append((p.object, "change index", "the trees"))
            # refs put back where their last recorded move left them
            for p in first.problems:
                if p.kind == "ref":
                    log = store.reflog(p.path, 1)
                    if log and log[0].new and store.get_commit(log[0].new):
                        store.force_ref(p.path, log[0].new)
                        report.restored.append((log[0].new, f"ref {p.path}", "its reflog"))
    finally:
        for r in readers:
            r.close()
    report.remaining = check(repo).problems
    return report


def _recompute_chains(repo) -> None:
    store, vs = repo.store, repo.versions
    rows = {r.id: r for r in store.iter_versions()}
    memo: dict[str, tuple[int, int]] = {}

    def chain(vid: str) -> tuple[int, int]:
        stack = [vid]
        while stack:
            cur = stack[-1]
            if cur in memo:
                stack.pop()
                continue
            row = rows.get(cur)
            if row is None or row.storage == "snapshot":
                memo[cur] = (0, 0)
                stack.pop()
                continue
            parent = row.parent_version_id
            if parent not in memo:
                stack.append(parent)
                continue
            try:
                size = len(vs.decode_row(row))
            except IntegrityError:
                size = 0
            memo[cur] = (memo[parent][0] + 1, memo[parent][1] + size)
            stack.pop()
        return memo[vid]

    for vid, row in rows.items():
        want = chain(vid)
        if (row.chain_len, row.chain_bytes) != want:
            store.update_chain(vid, *want)


def _rebuild_changes(repo, cid: str) -> None:
    from .store import ChangeRow

    row = repo.store.get_commit(cid)
    new = repo.tree(cid)
    old = repo.tree(row.parent1) if row.parent1 else {}
    rows = []
    for c in repo.tree_changes(old, new):
        a = repo.versions.get(c.old_id) if c.old_id else None
        b = repo.versions.get(c.new_id) if c.new_id else None
        ins, dels = delta.diffstat(a, b)
        rows.append(ChangeRow(cid, c.path, c.status, c.old_path, c.new_id, c.old_id, ins, dels))
    repo.store.replace_changes(cid, rows)
