"""push --tags: publish tags (labels such as `production`) on a primary's main database.

One atomic request; a compare-and-swap per tag against where this clone last saw it there
(recorded at each fetch and push), so a tag moved there since is refused (TagConflict) and
nothing is pushed; --force overwrites. Tags are fetched with every fetch (see ``fetch``).

May import: the standard library, ``refs``, ``errors``, ``clock``, promptvc/store (rows, and
``primary`` for every statement sent), and ``push`` / ``calls`` / ``hrana`` / ``replica`` /
``remotes``.
"""

from __future__ import annotations

import time

from .. import refs as R
from ..errors import RemoteError
from ..store import ChangeRow, CommitRow, VersionRow, primary
from ..store.primary import Statement
from . import hrana
from .calls import format_error, read_remote_ref, replica_path, with_retries
from .push import objects_to_push
from .remotes import Remote
from .replica import ReplicaReader


def push_tags(repo, remote: Remote, names: list[str] | None = None, *,
              force: bool = False) -> list[str]:
    """Publish tags (labels such as `production`) on the main database, moving them there as
    they are here. One atomic request, compare-and-swap per tag against the value this clone
    last saw on the remote (recorded at each fetch and push): a tag moved there since is
    refused with TagConflict and nothing is pushed. FORCE overwrites, recorded as forced in
    the remote's reflog. Returns the tags that were created or moved there (not those
    already in place)."""
    tags = dict(repo.tags())
    chosen = sorted(tags) if names is None else names
    for n in chosen:
        if n not in tags:
            raise RemoteError(f"tag '{n}' not found", hint="see `pvc tag`")
    if not chosen:
        return []
    reader = ReplicaReader(replica_path(repo, remote))
    try:
        commits: list[CommitRow] = []
        versions: list[VersionRow] = []
        changes: list[ChangeRow] = []
        seen_c: set[str] = set()
        for n in chosen:
            c, v, ch = objects_to_push(repo, tags[n], remote, reader)
            for row in c:
                if row.id not in seen_c:
                    seen_c.add(row.id)
                    commits.append(row)
            versions += v
            changes += ch
    finally:
        reader.close()
    uniq = {v.id: v for v in versions}
    from ..clock import now_iso

    at = now_iso()
    author = repo.author()
    stmts: list[Statement] = primary.shared_ddl()
    stmts.append(primary.writer_announce())
    before_step = len(stmts)  # where the tags were on the primary before this batch
    stmts.append(primary.refs_named([R.TAGS + n for n in chosen]))
    stmts += primary.object_statements(list(uniq.values()), commits, changes)
    guards: dict[int, str] = {}
    for n in chosen:
        ref = R.TAGS + n
        seen = repo.store.get_state(f"fetched.{remote.name}.{ref}")
        action = "push: tag (forced)" if force else "push: tag"
        stmts.append(primary.tag_reflog(ref, tags[n], author, at, action))
        if force:
            stmts.append(primary.set_tag(ref, tags[n], at))
            continue
        if seen is None:  # never seen there: create it, or find it already where ours is
            stmts.append(primary.create_tag(ref, tags[n], at))
        else:  # move it from where we last saw it (or find it already moved to ours)
            stmts.append(primary.move_tag(ref, seen, tags[n], at))
        guards[len(stmts)] = n  # the guard's first step fails when the tag is elsewhere
        stmts += primary.tag_guard(ref, tags[n])
    stmts.append(primary.WRITER_DONE)
    deadline = remote.deadline()
    client = hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)

    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return client.batch(stmts)
        except hrana.StatementError as exc:
            if exc.step in guards:
                client.timeout = max(1.0, deadline - time.monotonic())
                tag = guards[exc.step]
                raise _TagMoved(tag, read_remote_ref(client, R.TAGS + tag)) from None
            refused = format_error(remote, exc)
            if refused is not None:
                raise refused from None
            raise

    try:
        results = with_retries(remote, deadline, attempt, "push tags")
    except _TagMoved as moved:
        now = f"it is now at {moved.target[:12]}" if moved.target else "it was deleted there"
        raise TagConflict(
            f"tag '{moved.tag}' was moved on {remote.name} since you last fetched ({now}); "
            "no tag was pushed",
            hint=f"run `pvc fetch {remote.name}` to see the move, then `pvc push --tags` again; "
                 "or overwrite it with `pvc push --tags --force`") from None
    finally:
        client.close()
    with repo.store.transaction():
        for n in chosen:
            repo.store.set_state(f"fetched.{remote.name}.{R.TAGS + n}", tags[n])
    before: dict[str, str] = {}
    try:
        before = {str(name): str(target) for name, target in results[before_step].rows}
    except (TypeError, IndexError, AttributeError, ValueError):
        before = {}  # an answer without rows: report every tag as published
    return [n for n in chosen if before.get(R.TAGS + n) != tags[n]]


class _TagMoved(Exception):
    def __init__(self, tag: str, target: str | None):
        super().__init__(tag)
        self.tag = tag
        self.target = target


class TagConflict(RemoteError):
    """A tag push lost its compare-and-swap (retry after a fetch, or --force)."""
