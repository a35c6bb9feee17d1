"""The rows the store reads and writes, and how ids are kept in the database.

Ids are hex text above the store and 32-byte BLOBs in it (``db_id`` / ``hex_id``); commit
parents are stored as integer revs. The ``*_row`` builders turn a result tuple of the
matching SELECT (``VERSION_COLS``, ``COMMIT_SELECT``, ``CHANGE_SELECT``) into a row.

Layer: the store's own; imports only the schema specification (``store/spec.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .spec import columns


@dataclass(frozen=True)
class VersionRow:
    id: str
    kind: str
    parent_version_id: str | None
    parent2_version_id: str | None
    path: str | None
    storage: str
    codec: str
    data: bytes
    size: int
    chain_len: int
    chain_bytes: int
    created_at: str
    vrev: int = 0  # the row's place in stored order (set by iter_versions_stored only)


VERSION_COLS = ", ".join(c for c in columns("versions") if c != "vrev")


def db_id(hex_id: str | None):
    """A hex id as stored (32 bytes). Text that is not hex is returned as it is: a TEXT value
    never equals a BLOB, so a lookup of it finds nothing."""
    if hex_id is None:
        return None
    try:
        return bytes.fromhex(hex_id)
    except (ValueError, TypeError):
        return hex_id


def hex_id(raw) -> str | None:
    """A stored id as hex."""
    if raw is None:
        return None
    return key_hex(raw)


def key_hex(raw: bytes | str) -> str:
    """A stored id of a NOT NULL column as hex."""
    if isinstance(raw, str):
        return raw
    return bytes(raw).hex()


_b, _h, _k = db_id, hex_id, key_hex  # short names inside this module


def version_row(r: Sequence[Any]) -> "VersionRow":
    """A VersionRow from a SELECT of VERSION_COLS."""
    return VersionRow(_k(r[0]), r[1], _h(r[2]), _h(r[3]), *r[4:])


def prefix_range(prefix: str) -> tuple[bytes, bytes] | None:
    """The id range [lo, hi] of a hex PREFIX, or None when it is not lowercase hex."""
    if not prefix or len(prefix) > 64 or any(ch not in "0123456789abcdef" for ch in prefix):
        return None
    return (bytes.fromhex(prefix.ljust(64, "0")), bytes.fromhex(prefix.ljust(64, "f")))


@dataclass(frozen=True)
class CommitRow:
    id: str
    tree_id: str
    parent1: str | None
    parent2: str | None
    author: str
    committed_at: str
    message: str
    generation: int

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent1, self.parent2) if p)


# one query fetches a whole diff chain, from the snapshot to the version
VERSION_CHAIN_SQL = f"""WITH RECURSIVE chain(vid, depth) AS (
        SELECT ?, 0
        UNION ALL
        SELECT v.parent_version_id, chain.depth + 1
        FROM versions v JOIN chain ON v.id = chain.vid
        WHERE v.storage = 'diff' AND chain.depth < ?
    )
    SELECT {VERSION_COLS}
    FROM chain JOIN versions ON versions.id = chain.vid
    ORDER BY chain.depth DESC"""

COMMIT_COLS = ", ".join(c for c in columns("commits") if c != "rev")
# a commit row with its parents' ids (parents are stored as revs)
COMMIT_SELECT = ("SELECT c.id, c.tree_id, p1.id, p2.id, c.author, c.committed_at, c.message, "
                 "c.generation FROM commits c LEFT JOIN commits p1 ON p1.rev = c.parent1 "
                 "LEFT JOIN commits p2 ON p2.rev = c.parent2")


def commit_row(r: Sequence[Any]) -> "CommitRow":
    """A CommitRow from a COMMIT_SELECT row."""
    return CommitRow(_k(r[0]), _k(r[1]), _h(r[2]), _h(r[3]), r[4], r[5], r[6], int(r[7]))


@dataclass(frozen=True)
class ChangeRow:
    commit_id: str
    path: str
    status: str
    old_path: str | None
    version_id: str | None
    old_version_id: str | None
    insertions: int
    deletions: int


CHANGE_COLS = ", ".join(columns("changes"))
# a change row with its commit's id (changes are keyed by the commit's rev)
CHANGE_SELECT = ("SELECT c.id, ch.path, ch.status, ch.old_path, ch.version_id, ch.old_version_id, "
                 "ch.insertions, ch.deletions FROM changes ch JOIN commits c ON c.rev = ch.commit_id")


def change_row(r: Sequence[Any]) -> "ChangeRow":
    """A ChangeRow from a CHANGE_SELECT row."""
    return ChangeRow(_k(r[0]), r[1], r[2], r[3], _h(r[4]), _h(r[5]), r[6], r[7])


@dataclass(frozen=True)
class ReflogRow:
    seq: int
    ref: str
    old: str | None
    new: str | None
    who: str
    at: str
    action: str


@dataclass(frozen=True)
class BranchDbRow:
    remote: str
    branch: str
    db_name: str
    url: str
    parent: str | None
    created_at: str
    state: str


BRANCH_DB_COLS = ", ".join(columns("branch_dbs"))


@dataclass(frozen=True)
class TrackedRow:
    path: str
    origin: str | None
    st_size: int | None
    st_mtime: str | None
    sha: str | None


def parents_first(parents: dict[str, tuple[str, ...]]) -> list[str]:
    """The ids of PARENTS (commit -> its parents) ordered so that each commit comes after
    those of its parents that are among them; otherwise in PARENTS' order."""
    out: list[str] = []
    done: set[str] = set()
    for start in parents:
        stack = [(start, False)]
        while stack:
            c, expanded = stack.pop()
            if c in done or c not in parents:
                continue
            if expanded:
                done.add(c)
                out.append(c)
                continue
            stack.append((c, True))
            stack.extend((p, False) for p in parents[c] if p not in done)
    return out
