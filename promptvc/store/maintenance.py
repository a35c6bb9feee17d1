"""Queries of repair (``fsck --repair``) and maintenance (``gc``): rewriting a version's
stored form in place, rewriting a commit or its changes, expiring reflog entries, sizes,
VACUUM, and the one test/repair hook that overwrites a column.

Layer: the store's own; built on ``store/history_tables.py`` (a repaired commit is written by the
same code as a new one).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from .history_tables import HistoryQueries
from .rows import VERSION_COLS, ChangeRow, CommitRow, VersionRow, version_row
from .rows import db_id as _b
from .rows import hex_id as _h
from .rows import key_hex as _k
from .spec import columns


class MaintenanceQueries(HistoryQueries):
    """Repair and gc over the history tables and the reflog."""

    # -- repair (fsck --repair) ------------------------------------------------------------
    def children_of(self, version_id: str) -> list[VersionRow]:
        rows = self._all(f"SELECT {VERSION_COLS} FROM versions WHERE parent_version_id = ? "
                         "AND storage = 'diff'", (_b(version_id),))
        return [version_row(r) for r in rows]

    def replace_with_snapshot(self, version_id: str, content: bytes, policy) -> None:
        """Rewrite a version's stored data as a full snapshot of CONTENT (same id)."""
        import zlib

        data, codec = content, "raw"
        if len(content) >= policy.compress_min:
            packed = zlib.compress(content, 6)
            if len(packed) < len(content) * 0.9:
                data, codec = packed, "zlib"
        self._exec("UPDATE versions SET storage = 'snapshot', codec = ?, data = ?, size = ?, "
                   "chain_len = 0, chain_bytes = 0 WHERE id = ?",
                   (codec, data, len(content), _b(version_id)))

    def iter_version_links(self, batch: int = 2000) -> Iterator[tuple[str, str | None, str, int, int]]:
        """(id, parent version id, storage, chain_len, chain_bytes) of every version in
        stored order, without its data (gc plans its re-delta from these)."""
        last = 0
        while True:
            rows = self._all(
                "SELECT vrev, id, parent_version_id, storage, chain_len, chain_bytes "
                "FROM versions WHERE vrev > ? ORDER BY vrev LIMIT ?", (last, batch))
            if not rows:
                return
            for r in rows:
                yield _k(r[1]), _h(r[2]), r[3], int(r[4]), int(r[5])
            last = rows[-1][0]

    def replace_with_diff(self, version_id: str, codec: str, data: bytes, chain_len: int,
                          chain_bytes: int) -> None:
        """Rewrite a version's stored data as DATA, a diff against its parent (same id)."""
        self._exec("UPDATE versions SET storage = 'diff', codec = ?, data = ?, chain_len = ?, "
                   "chain_bytes = ? WHERE id = ?",
                   (codec, data, chain_len, chain_bytes, _b(version_id)))

    # -- maintenance (gc) -------------------------------------------------------------
    def reflog_expiry_candidates(self) -> list[tuple[int, str]]:
        """(seq, at) of every reflog entry except the newest of each ref: the entries gc
        may expire (a ref always keeps its last move)."""
        return [(int(r[0]), r[1]) for r in self._all(
            "SELECT seq, at FROM reflog WHERE seq NOT IN "
            "(SELECT max(seq) FROM reflog GROUP BY ref) ORDER BY seq")]

    def delete_reflog_entries(self, seqs: Sequence[int]) -> None:
        for i in range(0, len(seqs), 500):
            chunk = [int(s) for s in seqs[i:i + 500]]
            self._exec(f"DELETE FROM reflog WHERE seq IN ({','.join('?' * len(chunk))})", chunk)

    def database_bytes(self) -> int:
        """The database's size: its pages, free ones included."""
        return self._pragma_int("page_count") * self._pragma_int("page_size")

    def _pragma_int(self, name: str) -> int:
        """The value of an integer PRAGMA (these always give one row)."""
        row = self._one(f"PRAGMA {name}")
        assert row is not None
        return int(row[0])

    def bytes_by_table(self) -> dict[str, int]:
        """Bytes of the pages of each table and index (SQLite's dbstat), largest first."""
        return {r[0]: int(r[1]) for r in self._all(
            "SELECT name, sum(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC")}

    def free_bytes(self) -> int:
        """Bytes in free pages (what VACUUM would give back at least)."""
        return self._pragma_int("freelist_count") * self._pragma_int("page_size")

    def vacuum(self) -> None:
        """Rewrite the database compactly (outside any transaction), then refresh the
        planner's statistics."""
        assert not self._depth, "VACUUM cannot run inside a transaction"
        self._exec("VACUUM")
        self._exec("PRAGMA optimize")

    def update_chain(self, version_id: str, chain_len: int, chain_bytes: int) -> None:
        self._exec("UPDATE versions SET chain_len = ?, chain_bytes = ? WHERE id = ?",
                   (chain_len, chain_bytes, _b(version_id)))

    def replace_commit(self, fields: tuple) -> None:
        """Write a commit row as given (repair): in place when its id is here (its rev, and
        so its children's links, stay), else inserted."""
        row = CommitRow(*fields)
        rev = self._rev(row.id)
        if rev is None:
            self.insert_commit(row)
            return
        p1, p2 = self._parent_revs(row)
        self._exec("UPDATE commits SET tree_id = ?, parent1 = ?, parent2 = ?, author = ?, "
                   "committed_at = ?, message = ?, generation = ? WHERE rev = ?",
                   (_b(row.tree_id), p1, p2, row.author, row.committed_at, row.message,
                    row.generation, rev))

    def replace_changes(self, commit_id: str, rows: Iterable[ChangeRow]) -> None:
        self._exec("DELETE FROM changes WHERE commit_id = (SELECT rev FROM commits WHERE id = ?)",
                   (_b(commit_id),))
        self.insert_changes(rows)

    def force_ref(self, name: str, target: str) -> None:
        """Set a ref without a reflog entry (repair: back to its last recorded move)."""
        self._exec("UPDATE refs SET target = ? WHERE name = ?", (_b(target), name))


    _ID_COLUMNS = {("versions", "id"), ("versions", "parent_version_id"),
                   ("versions", "parent2_version_id"), ("commits", "id"), ("commits", "tree_id"),
                   ("refs", "target"), ("reflog", "old"), ("reflog", "new"),
                   ("changes", "version_id"), ("changes", "old_version_id")}

    def raw_update(self, table: str, column: str, key_col: str, key: str, value: Any) -> None:
        """Test/repair hook: overwrite one column of one row (used by fsck tests). Keys and
        values are given as callers see them (hex ids); stored as the table keeps them."""
        assert table in {"versions", "commits", "refs", "changes", "reflog"}
        assert column in columns(table) and key_col in columns(table)
        if (table, column) in self._ID_COLUMNS:
            value = _b(value)
        stored: Any = key  # the key as the table keeps it
        if (table, key_col) in self._ID_COLUMNS:
            stored = _b(key)
        if table == "changes" and key_col == "commit_id":
            stored = self._rev(key)
        self._exec(f"UPDATE {table} SET {column} = ? WHERE {key_col} = ?", (value, stored))
