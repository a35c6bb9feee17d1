"""Every query of the search index (tables of migrations 0006-0008 in store/schema.py).

The index is derived data, keyed by ``versions.vrev`` and contentless (FTS5 keeps only
token lists; texts stay in the version store and come from the caller):

- ``search_fts``, the history index: per prompt version, the lines it added to its parent
  version (its size follows the edits, not the history's length times a prompt's);
- ``search_tree_fts`` / ``search_tree_docs``, the tree index: the full text of the versions
  in the trees of the local branches (``search_state`` key ``tree`` names those trees),
  moved by the difference when a branch moves;
- ``search_vec_<space>``, one vector table per embedding model (libSQL ``F32_BLOB`` with a
  cosine ``libsql_vector_idx``), filled up to a per-space mark.

Porter + unicode61 tokens, BM25 ranking. :class:`SearchIndex` runs on a
:class:`~promptvc.store.db.Store` (libSQL) or on a read-only stdlib ``sqlite3`` connection
(serving), which has FTS5 but no vector functions: there, vector scores are computed by
the caller from raw vectors.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence

from .spec import search_vector_ddl, search_vector_drop_ddl

Rows = list[tuple]
TEXT_MARK = "text_mark"
TREE = "tree"
VECTOR_MARK = "vector_mark:"


def _hex(value: bytes | str | None) -> str | None:
    """An id as the rest of pvc sees it: core tables store 32-byte ids (format 2)."""
    if value is None:
        return None
    return _key_hex(value)


def _key_hex(value: bytes | str) -> str:
    """An id of a NOT NULL column as the rest of pvc sees it."""
    if isinstance(value, str):
        return value
    return bytes(value).hex()


def _blob_chunks(ids: Sequence[str], size: int = 400) -> Iterator[tuple[str, list[bytes]]]:
    """("?,?,...", [32-byte ids]) per chunk of IDS, for `IN (...)` on a core table's id
    column (bound as blobs, so the column's index is used)."""
    for start in range(0, len(ids), size):
        chunk = []
        for vid in ids[start:start + size]:
            try:
                chunk.append(bytes.fromhex(vid))
            except (TypeError, ValueError):
                continue
        if chunk:
            yield ",".join("?" * len(chunk)), chunk


class SearchIndex:
    """The search tables of one database. RUN(sql, args) returns all rows; EXEC(sql, args)
    returns a cursor (writes); EXEC is None on a read-only connection."""

    def __init__(self, run: Callable[[str, Sequence[Any]], Rows],
                 exec_: Callable[[str, Sequence[Any]], Any] | None = None,
                 *, vectors: bool = True):
        self._run = run
        self._exec = exec_
        self.has_vector_functions = vectors

    def _write(self, sql: str, args: Sequence[Any] = ()):
        if self._exec is None:
            raise RuntimeError("the search index is read-only here")
        return self._exec(sql, args)

    # -- availability ---------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._run(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_tree_docs'", ()))

    # -- bookkeeping ----------------------------------------------------------------------
    def _state(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM search_state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _set_state(self, key: str, value: str) -> None:
        self._write("INSERT INTO search_state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def text_mark(self) -> int:
        return int(self._state(TEXT_MARK) or 0)

    def set_text_mark(self, mark: int) -> None:
        self._set_state(TEXT_MARK, str(int(mark)))

    def last_version_mark(self) -> int:
        rows = self._run("SELECT coalesce(max(vrev), 0) FROM versions", ())
        return int(rows[0][0])

    def pending_versions(self, after: int, limit: int) -> list[tuple[int, str, str | None]]:
        """(vrev, id, path) of prompt versions stored after row AFTER, oldest first."""
        return [(int(r[0]), _key_hex(r[1]), r[2]) for r in self._run(
            "SELECT vrev, id, path FROM versions WHERE vrev > ? AND kind = 'prompt' "
            "ORDER BY vrev LIMIT ?", (int(after), int(limit)))]

    def pending_size(self, after: int) -> int:
        """Total bytes of the prompt versions stored after row AFTER."""
        return int(self._run("SELECT coalesce(sum(size), 0) FROM versions WHERE vrev > ? "
                             "AND kind = 'prompt'", (int(after),))[0][0])

    def count_pending(self, after: int) -> int:
        return int(self._run("SELECT count(*) FROM versions WHERE vrev > ? AND kind = 'prompt'",
                             (int(after),))[0][0])

    # -- the history index: what each version changed ---------------------------------------
    def add_change(self, vrev: int, path: str, added: str) -> None:
        """Index version VREV by the text it added (PATH: its path when it starts one)."""
        self._write("INSERT INTO search_fts (rowid, path, content) VALUES (?, ?, ?)",
                    (int(vrev), path, added))

    def clear_text(self) -> None:
        for table in ("search_fts", "search_tree_fts"):
            self._write(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
        self._write("DELETE FROM search_tree_docs")
        self._write("DELETE FROM search_state WHERE key IN (?, ?)", (TEXT_MARK, TREE))

    def optimize(self) -> None:
        """Merge the full-text indexes' segments into one (gc); a no-op before any index."""
        if self.exists():
            for table in ("search_fts", "search_tree_fts"):
                self._write(f"INSERT INTO {table} ({table}) VALUES ('optimize')")

    def doc_count(self) -> int:
        """Versions in the history index."""
        return int(self._run("SELECT count(*) FROM search_fts", ())[0][0])

    def indexed_version_count(self, mark: int) -> int:
        """Prompt versions stored up to MARK (each should have a document)."""
        return int(self._run("SELECT count(*) FROM versions WHERE vrev <= ? AND kind = 'prompt'",
                             (int(mark),))[0][0])

    def indexed_versions(self) -> list[str]:
        """Ids of the versions in the history index."""
        return [_key_hex(r[0]) for r in self._run(
            "SELECT v.id FROM versions v JOIN (SELECT rowid AS r FROM search_fts) f "
            "ON v.vrev = f.r", ())]

    def unindexed_versions(self, mark: int, limit: int = 100) -> list[str]:
        """Prompt versions up to MARK with no document (the index is damaged)."""
        return [_key_hex(r[0]) for r in self._run(
            "SELECT v.id FROM versions v WHERE v.vrev <= ? AND v.kind = 'prompt' AND v.vrev "
            "NOT IN (SELECT rowid FROM search_fts) LIMIT ?", (int(mark), int(limit)))]

    def orphan_docs(self, limit: int = 100) -> list[str]:
        """Documents of either index whose row is not a prompt version (as `#vrev`)."""
        out: list[str] = []
        for table in ("search_fts", "search_tree_fts"):
            out.extend(f"#{r[0]}" for r in self._run(
                f"SELECT f.rowid FROM {table} f WHERE f.rowid NOT IN "
                "(SELECT vrev FROM versions WHERE kind = 'prompt') LIMIT ?", (int(limit),)))
        return out

    # -- the tree index: the full text of one tree's versions ------------------------------
    def tree_mark(self) -> str | None:
        """The trees whose versions the tree index holds, as one key (None: none yet)."""
        return self._state(TREE)

    def tree_docs(self) -> dict[str, tuple[int, str]]:
        """version id -> (vrev, path) of the tree index's documents."""
        return {_key_hex(r[2]): (int(r[0]), r[1]) for r in self._run(
            "SELECT d.vrev, d.path, v.id FROM search_tree_docs d JOIN versions v "
            "ON v.vrev = d.vrev", ())}

    def vrevs(self, version_ids: Sequence[str]) -> dict[str, int]:
        """version id -> vrev of those of VERSION_IDS that are stored."""
        out: dict[str, int] = {}
        for marks, chunk in _blob_chunks(list(version_ids)):
            for r in self._run(f"SELECT id, vrev FROM versions WHERE id IN ({marks})", chunk):
                out[_key_hex(r[0])] = int(r[1])
        return out

    def version_ids(self, vrevs: Sequence[int]) -> dict[int, str]:
        """vrev -> version id."""
        out: dict[int, str] = {}
        ids = [int(v) for v in vrevs]
        for start in range(0, len(ids), 400):
            chunk = ids[start:start + 400]
            for r in self._run("SELECT vrev, id FROM versions WHERE vrev IN "
                               f"({','.join('?' * len(chunk))})", chunk):
                out[int(r[0])] = _key_hex(r[1])
        return out

    def size_of(self, vrevs: Sequence[int]) -> int:
        """Total bytes of the versions VREVS."""
        ids = [int(v) for v in vrevs]
        if not ids:
            return 0
        return int(self._run("SELECT coalesce(sum(size), 0) FROM versions WHERE vrev IN "
                             "(SELECT value FROM json_each(?))", (json.dumps(ids),))[0][0])

    def add_tree_doc(self, vrev: int, path: str, text: str) -> None:
        self._write("INSERT INTO search_tree_docs (vrev, path) VALUES (?, ?)", (int(vrev), path))
        self._write("INSERT INTO search_tree_fts (rowid, path, content) VALUES (?, ?, ?)",
                    (int(vrev), path, text))

    def remove_tree_doc(self, vrev: int, path: str, text: str) -> None:
        """Remove a document, given the values it was indexed with."""
        self._write("INSERT INTO search_tree_fts (search_tree_fts, rowid, path, content) "
                    "VALUES ('delete', ?, ?, ?)", (int(vrev), path, text))
        self._write("DELETE FROM search_tree_docs WHERE vrev = ?", (int(vrev),))

    def clear_tree(self) -> None:
        self._write("INSERT INTO search_tree_fts (search_tree_fts) VALUES ('delete-all')")
        self._write("DELETE FROM search_tree_docs")
        self._write("DELETE FROM search_state WHERE key = ?", (TREE,))

    def set_tree_mark(self, key: str) -> None:
        self._set_state(TREE, key)

    def tree_counts(self) -> tuple[int, int]:
        """(documents recorded, documents in the full-text table) of the tree index."""
        return (int(self._run("SELECT count(*) FROM search_tree_docs", ())[0][0]),
                int(self._run("SELECT count(*) FROM search_tree_fts", ())[0][0]))

    # -- history queries ----------------------------------------------------------------------
    def introducing_commits(self, version_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """version id -> [(commit id, path)] of the commits whose change introduced it."""
        out: dict[str, list[tuple[str, str]]] = {}
        ids = list(version_ids)
        for marks, chunk in _blob_chunks(ids):
            for r in self._run(
                    "SELECT ch.version_id, c.id, ch.path, c.generation FROM changes ch "
                    f"JOIN commits c ON c.rev = ch.commit_id WHERE ch.version_id IN ({marks}) "
                    "ORDER BY c.generation, c.committed_at, c.id", chunk):
                out.setdefault(_key_hex(r[0]), []).append((_key_hex(r[1]), r[2]))
        return out

    def changes_touching_versions(self, version_ids: Sequence[str]) -> list[tuple]:
        """(commit id, path, old path, version id, old version id, status) of non-merge changes whose
        old or new version is one of VERSION_IDS."""
        ids = list(version_ids)
        if not ids:
            return []
        if len(ids) <= 400 or not self.has_vector_functions:  # (no unhex() in the stdlib's)
            out: list[tuple] = []
            for marks, chunk in _blob_chunks(ids):
                out.extend(self._changes_where(
                    f"ch.version_id IN ({marks}) OR ch.old_version_id IN ({marks})",
                    chunk + chunk))
            return list(dict.fromkeys(out))
        # many versions: one pass over the changes, each looked up in the set (a chunked
        # query would scan the changes once per chunk: old_version_id has no index)
        wanted = "(SELECT unhex(value) FROM json_each(?1))"
        return list(dict.fromkeys(self._changes_where(
            f"ch.version_id IN {wanted} OR ch.old_version_id IN {wanted}", (json.dumps(ids),))))

    def changes_to_versions(self, version_ids: Sequence[str]) -> list[tuple]:
        """Like changes_touching_versions, for the changes whose new version is one of
        VERSION_IDS (the indexed side)."""
        out: list[tuple] = []
        for marks, chunk in _blob_chunks(list(version_ids)):
            out.extend(self._changes_where(f"ch.version_id IN ({marks})", chunk))
        return out

    def irregular_changes(self) -> list[tuple]:
        """Non-merge changes whose old version is not the new version's parent version (a
        delete, a revert to an older text, an add of a text stored before): what a scan of
        each version against its parent does not see."""
        return self._changes_where(
            "ch.old_version_id IS NOT (SELECT v.parent_version_id FROM versions v "
            "WHERE v.id = ch.version_id)", ())

    def renames(self) -> list[tuple]:
        """Non-merge changes that rename a file."""
        return self._changes_where("ch.status = 'R'", ())

    def _changes_where(self, where: str, args: Sequence[Any]) -> list[tuple]:
        return [(_hex(r[0]), r[1], r[2], _hex(r[3]), _hex(r[4]), r[5]) for r in self._run(
            "SELECT c.id, ch.path, ch.old_path, ch.version_id, ch.old_version_id, ch.status "
            "FROM changes ch JOIN commits c ON c.rev = ch.commit_id AND c.parent2 IS NULL "
            f"WHERE {where}", args)]

    # -- full-text queries ----------------------------------------------------------------------
    def fts_top(self, match: str, limit: int) -> list[tuple[str, str | None, float]]:
        """(version id, path, bm25) of the LIMIT versions whose changes match best (bm25:
        lower is better)."""
        return [(_key_hex(r[0]), r[1], float(r[2])) for r in self._run(
            "SELECT v.id, v.path, f.r FROM (SELECT rowid AS vrev, bm25(search_fts) AS r "
            "FROM search_fts WHERE search_fts MATCH ? ORDER BY r LIMIT ?) f "
            "JOIN versions v ON v.vrev = f.vrev ORDER BY f.r", (match, int(limit)))]

    def tree_covers(self, vrevs: Sequence[int]) -> bool:
        """Whether the tree index has a document for each of VREVS."""
        want = sorted({int(v) for v in vrevs})
        if not want:
            return True
        return int(self._run("SELECT count(*) FROM search_tree_docs WHERE vrev IN "
                             "(SELECT value FROM json_each(?))", (json.dumps(want),))[0][0]
                   ) == len(want)

    def tree_fts_top(self, match: str, limit: int, vrevs: Sequence[int]
                     ) -> list[tuple[str, str | None, float]]:
        """(version id, path, bm25) of the best LIMIT matches in the tree index among the
        versions VREVS (tested with `rowid + 0`: a bare rowid constraint is pushed into
        FTS5, which then runs one MATCH per row)."""
        return [(_key_hex(r[0]), r[1], float(r[2])) for r in self._run(
            "SELECT v.id, d.path, f.r FROM (SELECT rowid AS vrev, bm25(search_tree_fts) AS r "
            "FROM search_tree_fts WHERE search_tree_fts MATCH ? AND search_tree_fts.rowid + 0 "
            "IN (SELECT value FROM json_each(?)) ORDER BY r LIMIT ?) f "
            "JOIN search_tree_docs d ON d.vrev = f.vrev JOIN versions v ON v.vrev = f.vrev "
            "ORDER BY f.r", (match, json.dumps(sorted(int(v) for v in vrevs)), int(limit)))]

    def temp_fts_top(self, match: str, limit: int, docs: dict[str, tuple[str, str]]
                     ) -> list[tuple[str, str | None, float]]:
        """(version id, path, bm25) of the best LIMIT matches among DOCS (version id ->
        (path, text)), tokenized in a TEMP table (for a read-only connection whose tree
        index holds another tree; never written to the database file)."""
        self._run("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_scope USING "
                  "fts5(path, content, tokenize='porter unicode61')", ())
        self._run("DELETE FROM temp.search_scope", ())
        ids = list(docs)
        try:
            for i, vid in enumerate(ids):
                path, text = docs[vid]
                self._run("INSERT INTO temp.search_scope (rowid, path, content) VALUES (?, ?, ?)",
                          (i + 1, path, text))
            rows = self._run("SELECT rowid, bm25(search_scope) AS r FROM temp.search_scope "
                             "WHERE search_scope MATCH ? ORDER BY r LIMIT ?", (match, int(limit)))
        finally:
            self._run("DELETE FROM temp.search_scope", ())
        return [(ids[int(r[0]) - 1], docs[ids[int(r[0]) - 1]][0], float(r[1])) for r in rows]

    def snippets(self, match: str, texts: dict[str, str], start: str, end: str,
                 tokens: int = 16) -> dict[str, str]:
        """FTS5's snippet of each text in TEXTS (version id -> text) for MATCH, the words
        that matched wrapped in START and END. The index keeps no text, so the few texts
        are tokenized again in a TEMP table (never written to the database file)."""
        self._run("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_snippets USING "
                  "fts5(content, tokenize='porter unicode61')", ())
        self._run("DELETE FROM temp.search_snippets", ())
        ids = list(texts)
        for i, vid in enumerate(ids):
            self._run("INSERT INTO temp.search_snippets (rowid, content) VALUES (?, ?)",
                      (i + 1, texts[vid]))
        out = {}
        for rowid, text in self._run(
                "SELECT rowid, snippet(search_snippets, 0, ?, ?, '…', ?) FROM "
                "temp.search_snippets WHERE search_snippets MATCH ?",
                (start, end, int(tokens), match)):
            out[ids[int(rowid) - 1]] = text
        self._run("DELETE FROM temp.search_snippets", ())
        return out

    # -- embedding spaces and vectors --------------------------------------------------------------
    def space(self, model: str) -> tuple[int, int] | None:
        rows = self._run("SELECT space, dim FROM search_spaces WHERE model = ?", (model,))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def spaces(self) -> list[tuple[int, str, int]]:
        return [(int(r[0]), r[1], int(r[2])) for r in
                self._run("SELECT space, model, dim FROM search_spaces ORDER BY space", ())]

    def create_space(self, model: str, dim: int, at: str) -> int:
        self._write("INSERT OR IGNORE INTO search_spaces (model, dim, created_at) VALUES (?, ?, ?)",
                    (model, int(dim), at))
        found = self.space(model)
        assert found is not None  # inserted just above, or there already
        space = found[0]
        for sql in search_vector_ddl(space, dim):
            self._write(sql)
        return space

    def drop_space(self, space: int) -> None:
        for sql in search_vector_drop_ddl(space):
            self._write(sql)
        self._write("DELETE FROM search_spaces WHERE space = ?", (int(space),))
        self._write("DELETE FROM search_state WHERE key = ?", (f"{VECTOR_MARK}{int(space)}",))

    def vector_mark(self, space: int) -> int:
        """The vrev up to which the versions have a vector in SPACE."""
        return int(self._state(f"{VECTOR_MARK}{int(space)}") or 0)

    def set_vector_mark(self, space: int, mark: int) -> None:
        self._set_state(f"{VECTOR_MARK}{int(space)}", str(int(mark)))

    def versions_without_vectors(self, space: int, limit: int) -> list[tuple[int, str]]:
        """(vrev, version id) of the next LIMIT prompt versions after SPACE's mark, with
        those that already have a vector (a reindex keeps them) left out; the mark moves
        past runs that all have one."""
        space = int(space)
        while True:
            rows = self._run("SELECT vrev, id FROM versions WHERE vrev > ? AND kind = 'prompt' "
                             "ORDER BY vrev LIMIT ?", (self.vector_mark(space), int(limit)))
            out = [(int(r[0]), _key_hex(r[1])) for r in rows]
            if not out:
                return []
            have = {r[0] for r in self._run(
                f"SELECT version_id FROM search_vec_{space} WHERE version_id IN "
                "(SELECT value FROM json_each(?))", (json.dumps([vid for _, vid in out]),))}
            kept = [(vrev, vid) for vrev, vid in out if vid not in have]
            if kept:
                return kept
            self.set_vector_mark(space, out[-1][0])

    def count_without_vectors(self, space: int) -> int:
        return self.count_pending(self.vector_mark(space))

    def add_vectors(self, space: int, rows: Sequence[tuple[str, bytes]]) -> None:
        space = int(space)
        for vid, blob in rows:
            self._write(f"INSERT OR IGNORE INTO search_vec_{space} (version_id, embedding) "
                        "VALUES (?, vector32(?))", (vid, blob))

    def vector_count(self, space: int) -> int:
        return int(self._run(f"SELECT count(*) FROM search_vec_{int(space)}", ())[0][0])

    def orphan_vectors(self, space: int, limit: int = 100) -> list[str]:
        """Vectors whose version is not a stored prompt version."""
        space = int(space)
        return [r[0] for r in self._run(
            f"SELECT x.version_id FROM search_vec_{space} x WHERE NOT EXISTS "
            "(SELECT 1 FROM versions v WHERE v.id = unhex(x.version_id) AND v.kind = 'prompt') "
            "LIMIT ?", (int(limit),))]

    def vector_top(self, space: int, query: bytes, k: int) -> list[tuple[str, float]]:
        """(version id, cosine distance) of the K nearest vectors (libSQL's vector index)."""
        space = int(space)
        return [(r[0], float(r[1])) for r in self._run(
            f"SELECT v.version_id, vector_distance_cos(v.embedding, vector32(?1)) FROM "
            f"vector_top_k('search_vec_{space}_idx', vector32(?1), ?2) t "
            f"JOIN search_vec_{space} v ON v.rowid = t.id", (query, int(k)))]

    def vector_distances(self, space: int, query: bytes, version_ids: Sequence[str]
                         ) -> dict[str, float]:
        """Cosine distance from QUERY of each of VERSION_IDS that has a vector (exact scan)."""
        space = int(space)
        out: dict[str, float] = {}
        ids = list(version_ids)
        for start in range(0, len(ids), 5000):
            chunk = json.dumps(ids[start:start + 5000])
            for r in self._run(
                    f"SELECT version_id, vector_distance_cos(embedding, vector32(?)) FROM "
                    f"search_vec_{space} WHERE version_id IN (SELECT value FROM json_each(?))",
                    (query, chunk)):
                out[r[0]] = float(r[1])
        return out

    def raw_vectors(self, space: int, version_ids: Sequence[str] | None) -> list[tuple[str, bytes]]:
        """(version id, little-endian float32 bytes) for reading without vector functions."""
        space = int(space)
        if version_ids is None:
            return [(r[0], bytes(r[1])) for r in
                    self._run(f"SELECT version_id, embedding FROM search_vec_{space}", ())]
        out: list[tuple[str, bytes]] = []
        ids = list(version_ids)
        for start in range(0, len(ids), 5000):
            chunk = json.dumps(ids[start:start + 5000])
            out.extend((r[0], bytes(r[1])) for r in self._run(
                f"SELECT version_id, embedding FROM search_vec_{space} WHERE version_id IN "
                "(SELECT value FROM json_each(?))", (chunk,)))
        return out
