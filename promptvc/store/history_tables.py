"""Queries over the shared history: versions, commits and their change lists.

These tables are what a remote shares (see ``store/spec.py``); refs, state and the other
local tables are in ``store/local_tables.py``.

Layer: the store's own; built on ``store/connection.py``, rows from ``store/rows.py``.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from ..errors import IntegrityError
from .connection import Connection
from .rows import (CHANGE_COLS, CHANGE_SELECT, COMMIT_COLS, COMMIT_SELECT, VERSION_CHAIN_SQL,
                   VERSION_COLS, ChangeRow, CommitRow, VersionRow, change_row, commit_row,
                   parents_first, prefix_range, version_row)
from .rows import db_id as _b
from .rows import hex_id as _h
from .rows import key_hex as _k


class HistoryQueries(Connection):
    """Reads and writes of versions, commits and changes."""

    # -- versions ---------------------------------------------------------------------
    def version_meta(self, version_id: str) -> tuple[int, int, int, str] | None:
        """(size, chain_len, chain_bytes, storage) of a version, or None."""
        row = self._one(
            "SELECT size, chain_len, chain_bytes, storage FROM versions WHERE id = ?",
            (_b(version_id),))
        return (int(row[0]), int(row[1]), int(row[2]), row[3]) if row else None

    def version_path(self, version_id: str) -> str | None:
        """The path a version was stored under (None for a tree, or when it is missing)."""
        row = self._one("SELECT path FROM versions WHERE id = ?", (_b(version_id),))
        return row[0] if row else None

    def has_version(self, version_id: str) -> bool:
        return self._one("SELECT 1 FROM versions WHERE id = ?", (_b(version_id),)) is not None

    def insert_version(self, row: VersionRow) -> None:
        self._exec(
            f"INSERT OR IGNORE INTO versions ({VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                _b(row.id), row.kind, _b(row.parent_version_id), _b(row.parent2_version_id),
                row.path, row.storage, row.codec, row.data, row.size, row.chain_len,
                row.chain_bytes, row.created_at,
            ),
        )

    def version_chain(self, version_id: str, limit: int = 100_000) -> list[VersionRow]:
        """The rows needed to rebuild a version: its snapshot first, the version last."""
        return [version_row(r) for r in self._all(VERSION_CHAIN_SQL, (_b(version_id), limit))]

    def get_version_row(self, version_id: str) -> VersionRow | None:
        row = self._one(f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (_b(version_id),))
        return version_row(row) if row else None

    def iter_versions(self, batch: int = 500) -> Iterator[VersionRow]:
        last = b""
        while True:
            rows = self._all(
                f"SELECT {VERSION_COLS} FROM versions WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            for r in rows:
                yield version_row(r)
            last = rows[-1][0]

    def last_version_mark(self) -> int:
        """A mark of the versions stored so far: iter_versions_stored(after=mark) gives
        only those stored since."""
        row = self._one("SELECT coalesce(max(vrev), 0) FROM versions")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    def iter_versions_stored(self, batch: int = 500, kind: str | None = None,
                             after: int = 0) -> Iterator[VersionRow]:
        """Every version (of KIND, if given; stored after the mark AFTER) in the order the
        rows were stored (a diff's base is nearly always stored before it), BATCH rows per
        query: fsck, grep, the pickaxe and fetch stream them with a small cache."""
        last = after
        where = "" if kind is None else "AND kind = ? "
        extra: tuple = () if kind is None else (kind,)
        while True:
            rows = self._all(
                f"SELECT vrev, {VERSION_COLS} FROM versions WHERE vrev > ? {where}ORDER BY vrev "
                "LIMIT ?", (last, *extra, batch))
            if not rows:
                return
            for r in rows:
                yield VersionRow(_k(r[1]), r[2], _h(r[3]), _h(r[4]), r[5], r[6], r[7], r[8],
                                 r[9], r[10], r[11], r[12], vrev=int(r[0]))
            last = rows[-1][0]

    def version_count(self) -> int:
        row = self._one("SELECT count(*) FROM versions")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    def versions_of_path(self, path: str) -> list[VersionRow]:
        """Versions first committed under PATH, oldest first (for `debug chain`)."""
        rows = self._all(
            f"SELECT {VERSION_COLS} FROM versions WHERE path = ? AND kind = 'prompt' "
            "ORDER BY created_at, vrev",
            (path,),
        )
        return [version_row(r) for r in rows]

    def storage_totals(self) -> dict[str, int]:
        row = self._one(
            "SELECT count(*), coalesce(sum(length(data)),0), coalesce(sum(size),0), "
            "coalesce(sum(storage='snapshot'),0) FROM versions WHERE kind='prompt'"
        )
        assert row is not None  # an aggregate always gives one row
        return {"versions": row[0], "stored": row[1], "full": row[2], "snapshots": row[3]}

    # -- commits ----------------------------------------------------------------------
    def _rev(self, commit_id: str | None) -> int | None:
        if commit_id is None:
            return None
        row = self._one("SELECT rev FROM commits WHERE id = ?", (_b(commit_id),))
        return int(row[0]) if row else None

    def _parent_revs(self, row: CommitRow) -> tuple[int | None, int | None]:
        revs = []
        for p in (row.parent1, row.parent2):
            rev = self._rev(p)
            if p is not None and rev is None:
                raise IntegrityError(
                    f"commit {row.id[:12]} names parent {p[:12]}, which is not in the repository",
                    hint="bring the parent first (fetch it), or run `pvc fsck`")
            revs.append(rev)
        return revs[0], revs[1]

    def insert_commit(self, row: CommitRow) -> None:
        """Insert a commit (once). Its parents must be in the database already."""
        if self._rev(row.id) is not None:
            return
        p1, p2 = self._parent_revs(row)
        self._exec(
            f"INSERT OR IGNORE INTO commits ({COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?)",
            (_b(row.id), _b(row.tree_id), p1, p2, row.author, row.committed_at,
             row.message, row.generation),
        )

    def insert_commits(self, rows: Iterable[CommitRow]) -> None:
        """Insert commits in any order: parents first (a commit whose parent is neither
        here nor among ROWS is refused, see insert_commit)."""
        pending = {r.id: r for r in sorted(rows, key=lambda r: (r.generation, r.id))}
        for cid in parents_first({c: r.parents for c, r in pending.items()}):
            self.insert_commit(pending[cid])

    def get_commit(self, commit_id: str) -> CommitRow | None:
        row = self._one(f"{COMMIT_SELECT} WHERE c.id = ?", (_b(commit_id),))
        return commit_row(row) if row else None

    def commits_with_prefix(self, prefix: str) -> list[str]:
        rng = prefix_range(prefix)
        if rng is None:
            return []
        return [_k(r[0]) for r in self._all(
            "SELECT id FROM commits WHERE id BETWEEN ? AND ? LIMIT 2", rng)]

    def _reach(self, heads: Sequence[str]) -> set[int]:
        revs = [r for r in (self._rev(h) for h in heads if h) if r is not None]
        if not revs:
            return set()
        parents = dict(self._all("SELECT rev, parent1 FROM commits"))
        merges = dict(self._all("SELECT rev, parent2 FROM commits WHERE parent2 IS NOT NULL"))
        seen: set[int] = set()
        stack = revs
        while stack:
            rev = stack.pop()
            if rev in seen or rev not in parents:
                continue
            seen.add(rev)
            p1 = parents[rev]
            if p1 is not None:
                stack.append(p1)
            p2 = merges.get(rev)
            if p2 is not None:
                stack.append(p2)
        return seen

    def ancestors(self, heads: Sequence[str], limit: int | None = None) -> list[CommitRow]:
        """Every commit reachable from HEADS, newest generation first."""
        reach = self._reach(heads)
        if not reach:
            return []
        out: list[CommitRow] = []
        cur = self._exec(
            f"{COMMIT_SELECT.replace('SELECT c.id', 'SELECT c.rev, c.id', 1)} "
            "ORDER BY c.generation DESC, c.committed_at DESC, c.id")
        while True:
            rows = cur.fetchmany(256)
            if not rows:
                break
            for r in rows:
                if r[0] in reach:
                    out.append(commit_row(r[1:]))
                    if limit is not None and len(out) >= limit:
                        return out
            if len(out) == len(reach):
                break
        return out

    def ancestor_ids(self, heads: Sequence[str]) -> set[str]:
        """Ids of every commit reachable from HEADS (a walk over the integer parent revs)."""
        reach = self._reach(heads)
        if not reach:
            return set()
        return {bytes(cid).hex() for rev, cid in self._all("SELECT rev, id FROM commits")
                if rev in reach}

    def commits_in_generations(self, lo: int, hi: int) -> list[CommitRow]:
        """Every commit whose generation is between LO and HI (inclusive): one window of a
        history walk, read through the generation index."""
        return [commit_row(r) for r in self._all(
            COMMIT_SELECT.replace("FROM commits c", "FROM commits c INDEXED BY commits_generation", 1)
            + " WHERE c.generation BETWEEN ? AND ?", (int(lo), int(hi)))]

    def generation_range(self) -> tuple[int, int] | None:
        """(lowest, highest) generation of any commit, or None without commits."""
        row = self._one("SELECT min(generation), max(generation) FROM commits")
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def commits_touching(self, paths: Iterable[str]) -> list[CommitRow]:
        """Commits whose change list names any of PATHS (as new or old path)."""
        paths = list(paths)
        if not paths:
            return []
        marks = ",".join("?" for _ in paths)
        rows = self._all(
            f"""{COMMIT_SELECT} WHERE c.rev IN (SELECT commit_id FROM changes
                WHERE path IN ({marks}) OR old_path IN ({marks}))
                ORDER BY c.generation DESC, c.committed_at DESC, c.id""",
            paths + paths,
        )
        return [commit_row(r) for r in rows]

    def renames_into(self, paths: Iterable[str]) -> list[tuple[str, str]]:
        paths = list(paths)
        marks = ",".join("?" for _ in paths)
        return [
            (r[0], r[1])
            for r in self._all(
                f"SELECT path, old_path FROM changes WHERE status = 'R' AND path IN ({marks})",
                paths,
            )
        ]

    def iter_commits(self) -> Iterator[CommitRow]:
        last = b""
        while True:
            rows = self._all(f"{COMMIT_SELECT} WHERE c.id > ? ORDER BY c.id LIMIT 1000", (last,))
            if not rows:
                return
            for r in rows:
                yield commit_row(r)
            last = rows[-1][0]

    def commit_count(self) -> int:
        row = self._one("SELECT count(*) FROM commits")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    # -- changes ----------------------------------------------------------------------
    def insert_changes(self, rows: Iterable[ChangeRow]) -> None:
        revs: dict[str, int | None] = {}
        for c in rows:
            if c.commit_id not in revs:
                revs[c.commit_id] = self._rev(c.commit_id)
            rev = revs[c.commit_id]
            if rev is None:
                raise IntegrityError(f"changes of commit {c.commit_id[:12]}, which is not in the "
                                     "repository", hint="run `pvc fsck`")
            self._exec(
                f"INSERT OR IGNORE INTO changes ({CHANGE_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                (rev, c.path, c.status, c.old_path, _b(c.version_id), _b(c.old_version_id),
                 c.insertions, c.deletions),
            )

    def changes_of(self, commit_id: str) -> list[ChangeRow]:
        return [change_row(r) for r in self._all(
            f"{CHANGE_SELECT} WHERE c.id = ? ORDER BY ch.path", (_b(commit_id),))]

    def changes_for_commits(self, commit_ids: Sequence[str]) -> dict[str, list[ChangeRow]]:
        out: dict[str, list[ChangeRow]] = {c: [] for c in commit_ids}
        for start in range(0, len(commit_ids), 500):
            chunk = [_b(c) for c in commit_ids[start:start + 500]]
            marks = ",".join("?" for _ in chunk)
            for r in self._all(
                f"{CHANGE_SELECT} WHERE c.id IN ({marks}) ORDER BY ch.path", chunk,
            ):
                row = change_row(r)
                out[row.commit_id].append(row)
        return out
