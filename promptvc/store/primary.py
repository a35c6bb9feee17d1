"""The statements pvc sends to a primary, and what the primary's refusals mean.

Job: every SQL text that promptvc/remote sends to a primary (a shared libSQL database, over
Hrana) is built here, from the one schema specification (``spec``): the DDL that creates or
confirms a primary, the writer's announcement around a write batch, the rows of a push
(``INSERT OR IGNORE``: ids are content hashes, a replay is harmless), the compare-and-swap of
a branch or a tag, the branch -> database mapping, and the few lookups of a push. Each
function returns ``(sql, args)`` pairs (``Statement``) for ``HranaClient.execute`` /
``batch``; remote/ sends them and never writes SQL itself.

``refusal`` is the one place that reads a primary's error text (SQLite's, sqld's, and the
RAISE messages of our own triggers, ``spec.OLD_WRITER_MESSAGE`` / ``NEW_FORMAT_MESSAGE``)
and maps it to a ``Refusal`` kind; callers branch on the kind, never on the wording.

May import: the standard library, the store's schema modules (``spec``, ``team``) and its row
classes (``db``). Nothing above the store: remote/ imports this module, never the reverse.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import spec
from .team import TEAM_SETTINGS_DDL

if TYPE_CHECKING:
    from .rows import BranchDbRow, ChangeRow, CommitRow, VersionRow

Statement = tuple[str, tuple[Any, ...]]

# the primary's schema, from the one specification in spec.py: it creates a format-2 primary,
# confirms one, and refuses (spec.FORMAT1_CHECK) a format-1 primary
SHARED_DDL: list[str] = spec.primary_ddl() + [TEAM_SETTINGS_DDL]
_DDL = set(SHARED_DDL) | set(spec.experiment_ddl())

#: rows per INSERT statement of a push
ROWS_PER_INSERT = 200


def shared_ddl() -> list[Statement]:
    """SHARED_DDL as statements, for the head of a write batch."""
    return [(sql, ()) for sql in SHARED_DDL]


def upgrade_ddl() -> list[Statement]:
    """Format 1 -> 2 (`pvc remote upgrade`), as statements of one batch."""
    return [(sql, ()) for sql in spec.upgrade_primary_ddl()]


def writer_announce() -> Statement:
    """The writer's announcement (first statement of a format-2 write after its DDL)."""
    return spec.writer_announce()


WRITER_DONE: Statement = spec.WRITER_DONE


def announced(statements: list[Statement]) -> list[Statement]:
    """STATEMENTS as a format-2 writer sends them: after the leading DDL, the writer's
    announcement (checked by the primary against its format); its row removed at the end."""
    i = 0
    while i < len(statements) and statements[i][0] in _DDL:
        i += 1
    return statements[:i] + [spec.writer_announce()] + statements[i:] + [spec.WRITER_DONE]


# -- the objects of a push -----------------------------------------------------------------------
def insert_rows(table: str, rows: Sequence[tuple]) -> list[Statement]:
    """INSERT OR IGNORE of ROWS (in the order of the primary's columns of TABLE), at most
    ROWS_PER_INSERT rows a statement."""
    cols = spec.columns(table, "primary")
    stmts: list[Statement] = []
    marks = "(" + ",".join("?" for _ in cols) + ")"
    for i in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[i:i + ROWS_PER_INSERT]
        sql = (f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES "
               + ",".join(marks for _ in chunk))
        args = tuple(v for row in chunk for v in row)
        stmts.append((sql, args))
    return stmts


def object_statements(versions: Iterable[VersionRow], commits: Iterable[CommitRow],
                      changes: Iterable[ChangeRow]) -> list[Statement]:
    """INSERT OR IGNORE statements for version, commit and change rows."""
    return (
        insert_rows("versions", [
            (v.id, v.kind, v.parent_version_id, v.parent2_version_id, v.path, v.storage,
             v.codec, bytes(v.data), v.size, v.chain_len, v.chain_bytes, v.created_at)
            for v in versions])
        + insert_rows("commits", [
            (c.id, c.tree_id, c.parent1, c.parent2, c.author, c.committed_at, c.message,
             c.generation) for c in commits])
        + insert_rows("changes", [
            (c.commit_id, c.path, c.status, c.old_path, c.version_id, c.old_version_id,
             c.insertions, c.deletions) for c in changes])
    )


# -- a branch's compare-and-swap -------------------------------------------------------------------
def create_ref(name: str, target: str, at: str) -> Statement:
    """Create ref NAME (fails when it exists: the batch rolls back)."""
    return ("INSERT INTO refs (name, target, updated_at) VALUES (?, ?, ?)", (name, target, at))


def move_ref(name: str, old: str, new: str, at: str) -> list[Statement]:
    """Move ref NAME from OLD to NEW; the guard step fails (NOT NULL) when it was not at OLD."""
    return [("UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND target = ?",
             (new, at, name, old)),
            ("INSERT INTO cas_guard (ok) VALUES (CASE WHEN changes() = 1 THEN 1 END)", ()),
            ("DELETE FROM cas_guard", ())]


def append_reflog(ref: str, old: str | None, new: str | None, who: str, at: str,
                  action: str) -> Statement:
    return ("INSERT INTO reflog (ref, old, new, who, at, action) VALUES (?,?,?,?,?,?)",
            (ref, old, new, who, at, action))


# -- tags ------------------------------------------------------------------------------------------
def refs_named(names: Sequence[str]) -> Statement:
    """(name, target) of each ref of NAMES the primary has."""
    marks = ", ".join("?" for _ in names)
    return (f"SELECT name, target FROM refs WHERE name IN ({marks})", tuple(names))


def tag_reflog(ref: str, target: str, who: str, at: str, action: str) -> Statement:
    """A reflog entry for tag REF moving to TARGET, unless it is there already."""
    return ("INSERT INTO reflog (ref, old, new, who, at, action) SELECT ?, "
            "(SELECT target FROM refs WHERE name = ?), ?, ?, ?, ? "
            "WHERE coalesce((SELECT target FROM refs WHERE name = ?), '') != ?",
            (ref, ref, target, who, at, action, ref, target))


def set_tag(ref: str, target: str, at: str) -> Statement:
    """Tag REF at TARGET, wherever it was (a forced push)."""
    return ("INSERT INTO refs (name, target, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET target = excluded.target, "
            "updated_at = excluded.updated_at", (ref, target, at))


def create_tag(ref: str, target: str, at: str) -> Statement:
    """Create tag REF at TARGET; nothing when it exists (tag_guard checks where it is)."""
    return ("INSERT OR IGNORE INTO refs (name, target, updated_at) VALUES (?, ?, ?)",
            (ref, target, at))


def move_tag(ref: str, seen: str, target: str, at: str) -> Statement:
    """Move tag REF from SEEN to TARGET; nothing when it is elsewhere (tag_guard checks)."""
    return ("UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND target = ?",
            (target, at, ref, seen))


def tag_guard(ref: str, target: str) -> list[Statement]:
    """Two steps; the first fails (NOT NULL) unless tag REF is at TARGET."""
    return [("INSERT INTO cas_guard (ok) VALUES ((SELECT 1 FROM refs WHERE name = ? "
             "AND target = ?))", (ref, target)),
            ("DELETE FROM cas_guard", ())]


def commits_guard(cids: Sequence[str]) -> list[Statement]:
    """Two steps; the first fails (NOT NULL) unless the primary has every commit of CIDS
    (at least one): a push leaves those out as already there."""
    ids = sorted(set(cids))
    marks = ", ".join("?" for _ in ids)
    return [(f"INSERT INTO cas_guard (ok) VALUES (CASE WHEN (SELECT count(*) FROM commits "
             f"WHERE id IN ({marks})) = {len(ids)} THEN 1 END)", tuple(ids)),
            ("DELETE FROM cas_guard", ())]


# -- lookups -----------------------------------------------------------------------------------
def has_commit(cid: str) -> Statement:
    """One row when the primary has commit CID."""
    return ("SELECT 1 FROM commits WHERE id = ?", (cid,))


def commits_present(cids: Sequence[str]) -> Statement:
    """The ids among CIDS (at least one) that the primary has, one row each."""
    return (f"SELECT id FROM commits WHERE id IN ({', '.join('?' * len(cids))})", tuple(cids))


def ref_target(name: str) -> Statement:
    """The target of ref NAME (no row when there is none)."""
    return ("SELECT target FROM refs WHERE name = ?", (name,))


PROBE: Statement = ("SELECT 1", ())
"""A statement that any database answers (to find out why a sync failed)."""


# -- reading a primary's format (remote/upgrade.py) ------------------------------------------------
FORMAT_QUERY: Statement = (spec.FORMAT_QUERY, ())
REQUIRES_QUERY: Statement = (spec.REQUIRES_QUERY, ())
HAS_HISTORY_QUERY: Statement = (spec.HAS_HISTORY_QUERY, ())
BRANCH_DBS_QUERY: Statement = (spec.BRANCH_DBS_QUERY, ())


# -- the branch -> database mapping on the main database -------------------------------------------
def upsert_branch_db(row: BranchDbRow) -> Statement:
    """Record ROW (branch -> database) on the main database, replacing what it said."""
    cols = spec.columns("branch_dbs", "primary")
    return (f"INSERT INTO branch_dbs ({', '.join(cols)}) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(branch) DO UPDATE SET db_name = excluded.db_name, "
            "url = excluded.url, parent = excluded.parent, created_at = excluded.created_at, "
            "state = excluded.state",
            (row.branch, row.db_name, row.url, row.parent, row.created_at, row.state))


# -- what a refusal means ----------------------------------------------------------------------------
class Refusal(enum.Enum):
    """What a primary's error text says, for code to branch on."""

    AUTH = "auth"  # sqld refused the token (inside a statement error)
    NEWER_FORMAT = "newer-format"  # our writer check: the primary needs a newer pvc
    OLD_WRITER = "old-writer"  # our guard: a writer that did not announce itself
    NO_WRITER_TABLE = "no-writer-table"  # a format-1 primary has no pvc_writer table
    FORMAT1_GUARD = "format1-guard"  # spec.FORMAT1_CHECK refused a format-1 primary
    NO_SUCH_TABLE = "no-such-table"  # another table is missing (an empty primary)
    OTHER = "other"

    @property
    def missing_table(self) -> bool:
        """A table the statement needs is not there."""
        return self in (Refusal.NO_WRITER_TABLE, Refusal.NO_SUCH_TABLE)


def refusal(message: str, sql: str | None = None) -> Refusal:
    """The kind of the primary's error MESSAGE for statement SQL. The only reader of a
    primary's error text: SQLite answers a missing table, and sqld a refused token inside a
    statement, with a generic code and words only."""
    low = message.lower()
    if low.startswith("unauthorized") or low.startswith("authorization forbidden"):
        return Refusal.AUTH
    if "no such table: pvc_writer" in message:
        return Refusal.NO_WRITER_TABLE
    if "no such table" in message:
        return Refusal.NO_SUCH_TABLE
    if spec.NEW_FORMAT_MESSAGE in message:
        return Refusal.NEWER_FORMAT
    if spec.OLD_WRITER_MESSAGE in message:
        return Refusal.OLD_WRITER
    if "cas_guard" in message and sql == spec.FORMAT1_CHECK[1]:
        return Refusal.FORMAT1_GUARD
    return Refusal.OTHER
