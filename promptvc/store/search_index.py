"""Every query of the search index (tables of migrations 0006/0007 in store/schema.py).

The index is derived data: one row per prompt version (``search_docs``: version id and
path), a contentless FTS5 index of its text (``search_fts``, porter + unicode61 tokens,
BM25 ranking: only token lists are stored, the text stays in the version store), and one
vector table per embedding model (``search_vec_<space>``, libSQL ``F32_BLOB`` with a cosine
``libsql_vector_idx``). Whatever needs a version's text gets it from its caller.
:class:`SearchIndex` runs on a :class:`~promptvc.store.db.Store` (libSQL) or on a read-only
stdlib ``sqlite3`` connection (serving), which has FTS5 but no vector functions: there,
vector scores are computed by the caller from raw vectors.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence

from .spec import search_vector_ddl, search_vector_drop_ddl

Rows = list[tuple]
TEXT_MARK = "text_mark"


def _hex(value: bytes | str | None) -> str | None:
    """An id as the rest of pvc sees it: core tables store 32-byte ids (format 2)."""
    if value is None or isinstance(value, str):
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
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_docs'", ()))

    # -- bookkeeping ----------------------------------------------------------------------
    def text_mark(self) -> int:
        rows = self._run("SELECT value FROM search_state WHERE key = ?", (TEXT_MARK,))
        return int(rows[0][0]) if rows else 0

    def set_text_mark(self, mark: int) -> None:
        self._write("INSERT INTO search_state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (TEXT_MARK, str(int(mark))))

    def last_version_mark(self) -> int:
        rows = self._run("SELECT coalesce(max(rowid), 0) FROM versions", ())
        return int(rows[0][0])

    def pending_versions(self, after: int, limit: int) -> list[tuple[int, str, str | None]]:
        """(rowid, id, path) of prompt versions stored after row AFTER, oldest first."""
        return [(int(r[0]), _hex(r[1]), r[2]) for r in self._run(
            "SELECT rowid, id, path FROM versions WHERE rowid > ? AND kind = 'prompt' "
            "ORDER BY rowid LIMIT ?", (int(after), int(limit)))]

    def pending_size(self, after: int) -> int:
        """Total bytes of the prompt versions stored after row AFTER."""
        return int(self._run("SELECT coalesce(sum(size), 0) FROM versions WHERE rowid > ? "
                             "AND kind = 'prompt'", (int(after),))[0][0])

    def count_pending(self, after: int) -> int:
        return int(self._run("SELECT count(*) FROM versions WHERE rowid > ? AND kind = 'prompt'",
                             (int(after),))[0][0])

    # -- documents ------------------------------------------------------------------------
    def add_doc(self, version_id: str, path: str | None, content: str) -> bool:
        """Index one version's text; False when it is already indexed."""
        cur = self._write("INSERT OR IGNORE INTO search_docs (version_id, path) VALUES (?, ?)",
                          (version_id, path))
        if cur.rowcount != 1:
            return False
        doc = self._run("SELECT doc FROM search_docs WHERE version_id = ?", (version_id,))[0][0]
        self._write("INSERT INTO search_fts (rowid, path, content) VALUES (?, ?, ?)",
                    (doc, path or "", content))
        return True

    def clear_text(self) -> None:
        self._write("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
        self._write("DELETE FROM search_docs")
        self._write("DELETE FROM search_state WHERE key = ?", (TEXT_MARK,))

    def optimize(self) -> None:
        """Merge the full-text index's segments into one (gc); a no-op before any index."""
        if self.exists():
            self._write("INSERT INTO search_fts (search_fts) VALUES ('optimize')")

    def doc_count(self) -> int:
        return int(self._run("SELECT count(*) FROM search_docs", ())[0][0])

    def fts_count(self) -> int:
        return int(self._run("SELECT count(*) FROM search_fts", ())[0][0])

    def unindexed_versions(self, limit: int = 100) -> list[str]:
        """Prompt versions with no document (the index is behind or damaged)."""
        return [_hex(r[0]) for r in self._run(
            "SELECT v.id FROM versions v WHERE v.kind = 'prompt' AND NOT EXISTS "
            "(SELECT 1 FROM search_docs d WHERE d.version_id = lower(hex(v.id))) LIMIT ?",
            (int(limit),))]

    def orphan_docs(self, limit: int = 100) -> list[str]:
        """Documents whose version is not in the database."""
        return [r[0] for r in self._run(
            "SELECT d.version_id FROM search_docs d WHERE NOT EXISTS "
            "(SELECT 1 FROM versions v WHERE v.id = unhex(d.version_id)) LIMIT ?"
            if self.has_vector_functions else  # the stdlib's SQLite (3.40) has no unhex
            "SELECT d.version_id FROM search_docs d LEFT JOIN "
            "(SELECT lower(hex(id)) AS h FROM versions) v ON v.h = d.version_id "
            "WHERE v.h IS NULL LIMIT ?", (int(limit),))]

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
                out.setdefault(_hex(r[0]), []).append((_hex(r[1]), r[2]))
        return out

    def changes_touching_versions(self, version_ids: Sequence[str]) -> list[tuple]:
        """(commit id, path, old path, version id, old version id, status) of non-merge changes whose
        old or new version is one of VERSION_IDS."""
        out: list[tuple] = []
        ids = list(version_ids)
        for marks, chunk in _blob_chunks(ids):
            out.extend((_hex(r[0]), r[1], r[2], _hex(r[3]), _hex(r[4]), r[5]) for r in self._run(
                "SELECT c.id, ch.path, ch.old_path, ch.version_id, ch.old_version_id, ch.status "
                "FROM changes ch JOIN commits c ON c.rev = ch.commit_id AND c.parent2 IS NULL "
                f"WHERE ch.version_id IN ({marks}) OR ch.old_version_id IN ({marks})",
                chunk + chunk))
        return list(dict.fromkeys(out))

    # -- full-text queries ----------------------------------------------------------------------
    def fts_top(self, match: str, limit: int, scope: Sequence[str] | None = None
                ) -> list[tuple[str, str | None, float]]:
        """(version id, path, bm25) of the best LIMIT matches (bm25: lower is better),
        optionally only among the versions SCOPE (tested with `rowid + 0`: a bare rowid
        constraint is pushed into FTS5, which then runs one MATCH per scope row)."""
        if scope is None:
            sql = ("SELECT d.version_id, d.path, bm25(search_fts) AS r FROM search_fts "
                   "JOIN search_docs d ON d.doc = search_fts.rowid WHERE search_fts MATCH ? "
                   "ORDER BY r LIMIT ?")
            args: tuple = (match, int(limit))
        else:
            sql = ("SELECT d.version_id, d.path, bm25(search_fts) AS r FROM search_fts "
                   "JOIN search_docs d ON d.doc = search_fts.rowid WHERE search_fts MATCH ? "
                   "AND search_fts.rowid + 0 IN (SELECT doc FROM search_docs WHERE version_id IN "
                   "(SELECT value FROM json_each(?))) ORDER BY r LIMIT ?")
            args = (match, json.dumps(list(scope)), int(limit))
        return [(r[0], r[1], float(r[2])) for r in self._run(sql, args)]

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
        space, _ = self.space(model)  # type: ignore[misc]
        for sql in search_vector_ddl(space, dim):
            self._write(sql)
        return space

    def drop_space(self, space: int) -> None:
        for sql in search_vector_drop_ddl(space):
            self._write(sql)
        self._write("DELETE FROM search_spaces WHERE space = ?", (int(space),))

    def docs_without_vectors(self, space: int, limit: int) -> list[str]:
        """Version ids of documents with no vector in SPACE yet, oldest first."""
        space = int(space)
        return [r[0] for r in self._run(
            f"SELECT d.version_id FROM search_docs d WHERE NOT EXISTS "
            f"(SELECT 1 FROM search_vec_{space} v WHERE v.version_id = d.version_id) "
            "ORDER BY d.doc LIMIT ?", (int(limit),))]

    def count_without_vectors(self, space: int) -> int:
        space = int(space)
        return int(self._run(
            f"SELECT count(*) FROM search_docs d WHERE NOT EXISTS "
            f"(SELECT 1 FROM search_vec_{space} v WHERE v.version_id = d.version_id)", ())[0][0])

    def add_vectors(self, space: int, rows: Sequence[tuple[str, bytes]]) -> None:
        space = int(space)
        for vid, blob in rows:
            self._write(f"INSERT OR IGNORE INTO search_vec_{space} (version_id, embedding) "
                        "VALUES (?, vector32(?))", (vid, blob))

    def vector_count(self, space: int) -> int:
        return int(self._run(f"SELECT count(*) FROM search_vec_{int(space)}", ())[0][0])

    def orphan_vectors(self, space: int, limit: int = 100) -> list[str]:
        space = int(space)
        return [r[0] for r in self._run(
            f"SELECT v.version_id FROM search_vec_{space} v WHERE NOT EXISTS "
            "(SELECT 1 FROM search_docs d WHERE d.version_id = v.version_id) LIMIT ?", (int(limit),))]

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
