"""The storage format of a primary: read it, refuse what this pvc cannot write, and upgrade a
format-1 primary to format 2 (`pvc remote upgrade`).

A format-2 primary has a ``pvc_format`` row and a ``pvc_requires`` list (like Mercurial's
``requires``); every write batch of this pvc announces its format and features first and the
primary refuses it when it needs more (see promptvc/store/spec.py). Format 1 (pvc before
format 2) had neither. The upgrade is one atomic Hrana batch per database (the main database,
then every branch database it maps), and running it again changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import FormatError
from ..store import primary, spec
from . import hrana
from .remotes import Remote


@dataclass(frozen=True)
class PrimaryFormat:
    format: int | None  # None: an empty database (the first push creates format 2)
    requires: tuple[str, ...] = ()

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(f for f in self.requires if f not in spec.PRIMARY_FEATURES)

    @property
    def writable(self) -> bool:
        return self.format == spec.PRIMARY_FORMAT and not self.unknown


@dataclass(frozen=True)
class UpgradeResult:
    database: str  # "main" or a branch database's name
    url: str
    before: int | None
    after: int | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_json(self) -> dict:
        return {"database": self.database, "url": self.url, "before": self.before,
                "after": self.after, "changed": self.changed}


def older_format_error(remote: Remote) -> FormatError:
    return FormatError(
        f"the primary {remote.url} has storage format 1, which this pvc does not write; "
        "nothing was written",
        code="primary-format-old",
        hint=f"upgrade it with `pvc remote upgrade {remote.name}` (clones on an older pvc can "
             "still read it afterwards, but must upgrade pvc to write)")


def newer_format_error(remote: Remote, fmt: PrimaryFormat | None = None) -> FormatError:
    what = "a newer storage format"
    if fmt is not None and fmt.format is not None:
        what = f"storage format {fmt.format}"
        if fmt.unknown:
            what += f" and requires {', '.join(fmt.unknown)}"
    return FormatError(
        f"the primary {remote.url} has {what}, which this pvc (format {spec.PRIMARY_FORMAT}) "
        "does not know; nothing was written",
        code="primary-format-new",
        hint="upgrade pvc (pip install -U promptvc) to write to it")


def _client(remote: Remote) -> hrana.HranaClient:
    return hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)


def _call(remote: Remote, what: str, fn):
    from .calls import with_retries

    deadline = time.monotonic() + remote.timeout
    return with_retries(remote, deadline, lambda remaining: fn(), what)


def read_format(remote: Remote) -> PrimaryFormat:
    """The format of REMOTE's database (1 when it has history but no format row)."""
    client = _client(remote)
    try:
        def read():
            try:
                rows = dict(client.execute(*primary.FORMAT_QUERY).rows)
            except hrana.StatementError as exc:
                if not exc.refusal.missing_table:
                    raise
                has = client.execute(*primary.HAS_HISTORY_QUERY).rows[0][0]
                return PrimaryFormat(1 if int(has) else None)
            try:
                number = int(rows.get("format", ""))
            except ValueError:
                number = 10**6  # unreadable: treat as newer than anything we know
            requires = tuple(r[0] for r in client.execute(*primary.REQUIRES_QUERY).rows)
            return PrimaryFormat(number, requires)

        return _call(remote, "read the primary's format", read)
    finally:
        client.close()


def _upgrade_one(remote: Remote, database: str) -> UpgradeResult:
    before = read_format(remote)
    if before.format is not None and before.format > 1 and not before.writable:
        raise newer_format_error(remote, before)
    if before.format != 1:  # format 2 already, or empty
        return UpgradeResult(database, remote.url, before.format, before.format)
    client = _client(remote)
    try:
        _call(remote, "upgrade the primary",
              lambda: client.batch(primary.upgrade_ddl()))
    finally:
        client.close()
    after = read_format(remote)
    return UpgradeResult(database, remote.url, 1, after.format)


def upgrade(remote: Remote) -> list[UpgradeResult]:
    """Upgrade REMOTE's main database and every branch database it maps to format 2."""
    results = [_upgrade_one(remote, "main")]
    client = _client(remote)
    try:
        def mapping():
            try:
                return client.execute(*primary.BRANCH_DBS_QUERY).rows
            except hrana.StatementError as exc:
                if exc.refusal.missing_table:
                    return []
                raise

        rows = _call(remote, "read the branch databases", mapping)
    finally:
        client.close()
    for _branch, db_name, url, state in rows:
        if state != "deleted":
            results.append(_upgrade_one(remote.for_database(url), db_name))
    return results
