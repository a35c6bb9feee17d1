"""The one specification of pvc's tables (format 2), and the DDL generated from it.

Every table pvc writes is described here once: columns, keys, indexes, ``WITHOUT ROWID``,
and which side holds it: ``local`` (a repository's ``.pvc/pvc.db``), ``primary`` (the shared
libSQL database and its branch databases), ``both``, or ``outbox`` (an application's file
of outcome events waiting to be sent). The local schema (``local_ddl``), the primary's schema
(``primary_ddl``) and the outbox (``outbox_ddl``) are generated from it; no other module
writes DDL or repeats a column list (the row codecs in ``rows.py`` read ``columns()``).

Local rows are compact: ids are 32-byte BLOBs (hex only at the edges: ``Store`` takes and
returns hex strings), commits have a local integer revision ``rev`` (their order of arrival
in this database) and their parents are stored as those integers. The primary keeps the row
shape every pvc since format 1 reads (hex TEXT ids): what changed there is that it carries its
format (``pvc_format``, ``pvc_requires``) and refuses writers that do not announce it
(``pvc_writer`` and the guard triggers), see ``primary_ddl``.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIMARY_FORMAT = 2
"""The primary format this pvc writes. 1: no format row (pvc before format 2)."""

PRIMARY_FEATURES = ("format-row", "writer-guard")
"""Format features this pvc knows; a primary that requires another one is refused."""

OLD_WRITER_MESSAGE = (f"pvc: this primary has storage format {PRIMARY_FORMAT}; upgrade pvc "
                      "(pip install -U promptvc) to write to it")
NEW_FORMAT_MESSAGE = "pvc: this primary needs a newer pvc (unknown format or feature)"


@dataclass(frozen=True)
class Column:
    name: str
    decl: str  # type and constraints, e.g. "BLOB NOT NULL"
    codec: str | None = None  # "id": 32-byte id (hex at the edges); "rev": a commit's rev


@dataclass(frozen=True)
class Index:
    name: str
    columns: str
    where: str | None = None
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    side: str  # local | primary | both | outbox
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    without_rowid: bool = False
    indexes: tuple[Index, ...] = ()
    checks: tuple[str, ...] = ()

    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create(self, *, name: str | None = None, if_not_exists: bool = False) -> str:
        parts = [f"{c.name} {c.decl}".rstrip() for c in self.columns]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        parts += [f"CHECK ({c})" for c in self.checks]
        guard = "IF NOT EXISTS " if if_not_exists else ""
        tail = " WITHOUT ROWID" if self.without_rowid else ""
        return f"CREATE TABLE {guard}{name or self.name} (\n    " + ",\n    ".join(parts) + f"\n){tail}"

    def create_indexes(self, *, if_not_exists: bool = False) -> list[str]:
        guard = "IF NOT EXISTS " if if_not_exists else ""
        return [f"CREATE {'UNIQUE ' if ix.unique else ''}INDEX {guard}{ix.name} ON "
                f"{self.name}({ix.columns})" + (f" WHERE {ix.where}" if ix.where else "")
                for ix in self.indexes]


def C(name: str, decl: str = "", codec: str | None = None) -> Column:
    return Column(name, decl, codec)


# -- shared column lists ---------------------------------------------------------------------
# branch -> database mapping: the primary holds these columns; a local repository keeps one
# mapping per remote, so its table is `remote` + the same columns.
BRANCH_DB_COLUMNS = (
    C("branch", "TEXT NOT NULL"),
    C("db_name", "TEXT NOT NULL"),
    C("url", "TEXT NOT NULL"),
    C("parent", "TEXT"),
    C("created_at", "TEXT NOT NULL"),
    C("state", "TEXT NOT NULL CHECK (state IN ('active', 'frozen', 'deleted'))"),
)
EVENT_COLUMNS = (
    C("id", "TEXT NOT NULL"),
    C("experiment", "TEXT NOT NULL"),
    C("unit", "TEXT NOT NULL"),
    C("arm", "TEXT NOT NULL"),
    C("metric", "TEXT NOT NULL"),
    C("value", "REAL NOT NULL"),
    C("at", "TEXT NOT NULL"),
)

# -- local tables (format 2) -------------------------------------------------------------------
LOCAL_TABLES = (
    # A version is one full content (a prompt file's bytes, or a tree manifest), identified
    # by the SHA-256 of that content, stored either as a full snapshot or as a unified diff
    # against its parent version. `vrev` keeps arrival order (`debug chain`).
    Table("versions", "local", (
        C("vrev", "INTEGER PRIMARY KEY"),
        C("id", "BLOB NOT NULL UNIQUE", "id"),
        C("kind", "TEXT NOT NULL CHECK (kind IN ('prompt', 'tree'))"),
        C("parent_version_id", "BLOB", "id"),
        C("parent2_version_id", "BLOB", "id"),
        C("path", "TEXT"),
        C("storage", "TEXT NOT NULL CHECK (storage IN ('snapshot', 'diff'))"),
        C("codec", "TEXT NOT NULL CHECK (codec IN ('raw', 'zlib'))"),
        C("data", "BLOB NOT NULL"),
        C("size", "INTEGER NOT NULL"),
        C("chain_len", "INTEGER NOT NULL"),
        C("chain_bytes", "INTEGER NOT NULL"),
        C("created_at", "TEXT NOT NULL"),
    )),
    # `rev`: local integer revision (arrival order); parents are revs, so a parent walk is
    # a rowid lookup; `generation` = 1 + max(parents' generation) stops walks early.
    Table("commits", "local", (
        C("rev", "INTEGER PRIMARY KEY"),
        C("id", "BLOB NOT NULL UNIQUE", "id"),
        C("tree_id", "BLOB NOT NULL", "id"),
        C("parent1", "INTEGER", "rev"),
        C("parent2", "INTEGER", "rev"),
        C("author", "TEXT NOT NULL"),
        C("committed_at", "TEXT NOT NULL"),
        C("message", "TEXT NOT NULL"),
        C("generation", "INTEGER NOT NULL"),
    ), indexes=(
        Index("commits_parent1", "parent1"),
        Index("commits_parent2", "parent2", where="parent2 IS NOT NULL"),
        Index("commits_generation", "generation"),
    )),
    # What each commit changed against its first parent: `log -- PATH`, `log --stat`.
    Table("changes", "local", (
        C("commit_id", "INTEGER NOT NULL", "rev"),
        C("path", "TEXT NOT NULL"),
        C("status", "TEXT NOT NULL CHECK (status IN ('A', 'M', 'D', 'R'))"),
        C("old_path", "TEXT"),
        C("version_id", "BLOB", "id"),
        C("old_version_id", "BLOB", "id"),
        C("insertions", "INTEGER NOT NULL DEFAULT 0"),
        C("deletions", "INTEGER NOT NULL DEFAULT 0"),
    ), primary_key=("commit_id", "path"), without_rowid=True, indexes=(
        Index("changes_path", "path"),
        Index("changes_old_path", "old_path", where="old_path IS NOT NULL"),
    )),
    Table("refs", "local", (
        C("name", "TEXT NOT NULL"),
        C("target", "BLOB NOT NULL", "id"),
        C("updated_at", "TEXT NOT NULL"),
    ), primary_key=("name",), without_rowid=True),
    Table("reflog", "local", (
        C("seq", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        C("ref", "TEXT NOT NULL"),
        C("old", "BLOB", "id"),
        C("new", "BLOB", "id"),
        C("who", "TEXT NOT NULL"),
        C("at", "TEXT NOT NULL"),
        C("action", "TEXT NOT NULL"),
    ), indexes=(Index("reflog_ref", "ref, seq"),)),
    # working-tree state (never shared): the tracked set and its stat cache
    Table("tracked", "local", (
        C("path", "TEXT PRIMARY KEY"),
        C("origin", "TEXT"),
        C("st_size", "INTEGER"),
        C("st_mtime", "TEXT"),
        C("sha", "TEXT"),
    )),
    Table("state", "local", (C("key", "TEXT PRIMARY KEY"), C("value", "TEXT NOT NULL"))),
    Table("branch_dbs", "local", (C("remote", "TEXT NOT NULL"),) + BRANCH_DB_COLUMNS,
          primary_key=("remote", "branch")),
)

# -- experiments: the same on both sides -------------------------------------------------------
EXPERIMENT_TABLES = (
    Table("experiments", "both", (
        C("name", "TEXT PRIMARY KEY"),
        C("arms", "TEXT NOT NULL"),
        C("split", "TEXT NOT NULL"),
        C("state", "TEXT NOT NULL"),
        C("created_at", "TEXT NOT NULL"),
        C("stopped_at", "TEXT"),
        C("winner", "TEXT"),
    )),
    Table("events", "both", (C("id", "TEXT PRIMARY KEY"),) + EVENT_COLUMNS[1:]),
    # running sums per hour bucket: reports never scan the events
    Table("event_summary", "both", (
        C("experiment", "TEXT NOT NULL"),
        C("arm", "TEXT NOT NULL"),
        C("metric", "TEXT NOT NULL"),
        C("bucket", "TEXT NOT NULL"),
        C("n", "INTEGER NOT NULL"),
        C("total", "REAL NOT NULL"),
        C("total_sq", "REAL NOT NULL"),
        C("vmin", "REAL NOT NULL"),
        C("vmax", "REAL NOT NULL"),
    ), primary_key=("experiment", "arm", "metric", "bucket")),
    Table("experiment_units", "both", (
        C("experiment", "TEXT NOT NULL"),
        C("unit", "TEXT NOT NULL"),
        C("arm", "TEXT NOT NULL"),
        C("bucket", "TEXT NOT NULL"),
    ), primary_key=("experiment", "unit")),
)

# INSERT OR IGNORE of a replayed event does not fire this: replays are harmless
EVENTS_TRIGGER = """CREATE TRIGGER IF NOT EXISTS events_summarise AFTER INSERT ON events BEGIN
        INSERT INTO event_summary (experiment, arm, metric, bucket, n, total, total_sq, vmin, vmax)
        VALUES (new.experiment, new.arm, new.metric, substr(new.at, 1, 13), 1, new.value,
                new.value * new.value, new.value, new.value)
        ON CONFLICT (experiment, arm, metric, bucket) DO UPDATE SET
            n = n + 1, total = total + excluded.total, total_sq = total_sq + excluded.total_sq,
            vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax);
        INSERT OR IGNORE INTO experiment_units (experiment, unit, arm, bucket)
        VALUES (new.experiment, new.unit, new.arm, substr(new.at, 1, 13));
    END"""

# -- the primary ---------------------------------------------------------------------------------
PRIMARY_TABLES = (
    Table("versions", "primary", (
        C("id", "TEXT PRIMARY KEY"), C("kind", "TEXT NOT NULL"), C("parent_version_id", "TEXT"),
        C("parent2_version_id", "TEXT"), C("path", "TEXT"), C("storage", "TEXT NOT NULL"),
        C("codec", "TEXT NOT NULL"), C("data", "BLOB NOT NULL"), C("size", "INTEGER NOT NULL"),
        C("chain_len", "INTEGER NOT NULL"), C("chain_bytes", "INTEGER NOT NULL"),
        C("created_at", "TEXT NOT NULL"))),
    Table("commits", "primary", (
        C("id", "TEXT PRIMARY KEY"), C("tree_id", "TEXT NOT NULL"), C("parent1", "TEXT"),
        C("parent2", "TEXT"), C("author", "TEXT NOT NULL"), C("committed_at", "TEXT NOT NULL"),
        C("message", "TEXT NOT NULL"), C("generation", "INTEGER NOT NULL")),
        indexes=(Index("commits_parent1", "parent1"),)),
    Table("changes", "primary", (
        C("commit_id", "TEXT NOT NULL"), C("path", "TEXT NOT NULL"), C("status", "TEXT NOT NULL"),
        C("old_path", "TEXT"), C("version_id", "TEXT"), C("old_version_id", "TEXT"),
        C("insertions", "INTEGER NOT NULL DEFAULT 0"), C("deletions", "INTEGER NOT NULL DEFAULT 0")),
        primary_key=("commit_id", "path"), indexes=(Index("changes_path", "path"),)),
    Table("refs", "primary", (
        C("name", "TEXT PRIMARY KEY"), C("target", "TEXT NOT NULL"),
        C("updated_at", "TEXT NOT NULL"))),
    Table("reflog", "primary", (
        C("seq", "INTEGER PRIMARY KEY AUTOINCREMENT"), C("ref", "TEXT NOT NULL"), C("old", "TEXT"),
        C("new", "TEXT"), C("who", "TEXT NOT NULL"), C("at", "TEXT NOT NULL"),
        C("action", "TEXT NOT NULL"))),
    # compare-and-swap inside a Hrana batch (see shared TURSO.md): a NOT NULL insert fails
    Table("cas_guard", "primary", (C("ok", "INTEGER NOT NULL"),)),
    Table("branch_dbs", "primary", (C("branch", "TEXT PRIMARY KEY"),) + BRANCH_DB_COLUMNS[1:]),
    # format 2: what this database is, and what a writer must know to write it
    Table("pvc_format", "primary", (C("key", "TEXT PRIMARY KEY"), C("value", "TEXT NOT NULL"))),
    Table("pvc_requires", "primary", (C("feature", "TEXT PRIMARY KEY"),)),
    # a writer announces itself in its batch (one row, deleted before COMMIT)
    Table("pvc_writer", "primary", (C("format", "INTEGER NOT NULL"), C("features", "TEXT NOT NULL"))),
)

# what a writer that does not announce itself (pvc before format 2) may not touch
GUARDED_TABLES = ("versions", "commits", "changes", "refs", "reflog", "branch_dbs", "experiments")

OUTBOX_TABLES = (Table("outbox", "outbox", (C("id", "TEXT PRIMARY KEY"),) + EVENT_COLUMNS[1:]),)

ALL_TABLES: tuple[Table, ...] = LOCAL_TABLES + EXPERIMENT_TABLES + PRIMARY_TABLES + OUTBOX_TABLES


def table(name: str, side: str = "local") -> Table:
    """The table NAME as it is on SIDE (local, primary or outbox)."""
    for t in ALL_TABLES:
        if t.name == name and (t.side == side or t.side == "both"):
            return t
    raise KeyError(f"{side} table {name}")


def columns(name: str, side: str = "local") -> tuple[str, ...]:
    return table(name, side).column_names()


def experiment_ddl() -> list[str]:
    """The experiment tables and their trigger (local, primary, and any pvc database file
    an application records events into)."""
    out: list[str] = []
    for t in EXPERIMENT_TABLES:
        out.append(t.create(if_not_exists=True))
        out += t.create_indexes(if_not_exists=True)
    return out + [EVENTS_TRIGGER]


def local_ddl() -> list[str]:
    """A new local database at the current format, one statement each."""
    out: list[str] = []
    for t in LOCAL_TABLES:
        out.append(t.create())
        out += t.create_indexes()
    return out + experiment_ddl()


def _guard_triggers() -> list[str]:
    """Every write an old pvc makes inserts a row into one of GUARDED_TABLES (a push always
    appends to the reflog) or moves a pointer (refs, branch_dbs): those fail. Other UPDATEs
    and DELETEs stay open (repairs by hand)."""
    out = []
    for name in GUARDED_TABLES:
        ops = ("INSERT", "UPDATE", "DELETE") if name in ("refs", "branch_dbs") else ("INSERT",)
        for op in ops:
            out.append(f"CREATE TRIGGER IF NOT EXISTS pvc_guard_{name}_{op.lower()} BEFORE {op} "
                       f"ON {name} WHEN NOT EXISTS (SELECT 1 FROM pvc_writer) BEGIN "
                       f"SELECT RAISE(ABORT, '{OLD_WRITER_MESSAGE}'); END")
    return out


def format_ddl() -> list[str]:
    """What makes a primary format 2 (idempotent): the format tables and rows, the check of
    each writer's announcement, and the guards against writers that do not announce."""
    out = [t.create(if_not_exists=True) for t in PRIMARY_TABLES
           if t.name in ("pvc_format", "pvc_requires", "pvc_writer")]
    out.append(f"INSERT OR IGNORE INTO pvc_format (key, value) VALUES ('format', '{PRIMARY_FORMAT}')")
    out += [f"INSERT OR IGNORE INTO pvc_requires (feature) VALUES ('{f}')" for f in PRIMARY_FEATURES]
    out.append(
        "CREATE TRIGGER IF NOT EXISTS pvc_writer_check BEFORE INSERT ON pvc_writer WHEN "
        "NEW.format < (SELECT CAST(value AS INTEGER) FROM pvc_format WHERE key = 'format') OR "
        "EXISTS (SELECT 1 FROM pvc_requires WHERE instr(' ' || NEW.features || ' ', "
        "' ' || feature || ' ') = 0) "
        f"BEGIN SELECT RAISE(ABORT, '{NEW_FORMAT_MESSAGE}'); END")
    return out + _guard_triggers()


def primary_tables_ddl() -> list[str]:
    """Every table and index of a primary (format 2), idempotent."""
    out: list[str] = []
    for t in PRIMARY_TABLES + EXPERIMENT_TABLES:
        out.append(t.create(if_not_exists=True))
        out += t.create_indexes(if_not_exists=True)
    return out + [EVENTS_TRIGGER]


# The first steps of a batch that may create the primary: they fail (NOT NULL) on a primary
# that has history but no format row (format 1: it must be upgraded explicitly first).
FORMAT1_CHECK = [
    "CREATE TABLE IF NOT EXISTS cas_guard (ok INTEGER NOT NULL)",
    "INSERT INTO cas_guard (ok) SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master "
    "WHERE type = 'table' AND name = 'refs') AND NOT EXISTS (SELECT 1 FROM sqlite_master "
    "WHERE type = 'table' AND name = 'pvc_format') THEN NULL ELSE 1 END",
    "DELETE FROM cas_guard",
]


def primary_ddl() -> list[str]:
    """The statements that create (or confirm) a format-2 primary, for the head of a write
    batch: refused on a format-1 primary (FORMAT1_CHECK), idempotent on a format-2 one."""
    return FORMAT1_CHECK + primary_tables_ddl() + format_ddl()


def upgrade_primary_ddl() -> list[str]:
    """Format 1 -> 2 (`pvc remote upgrade`): one atomic batch, idempotent. Row shapes stay;
    the format row and the guards are added, so pvc before format 2 can still read (clone,
    fetch) but its writes fail with OLD_WRITER_MESSAGE instead of writing."""
    return primary_tables_ddl() + format_ddl()


def writer_announce() -> tuple[str, tuple]:
    """The first statement of every format-2 write batch (checked by pvc_writer_check)."""
    return ("INSERT INTO pvc_writer (format, features) VALUES (?, ?)",
            (PRIMARY_FORMAT, " ".join(PRIMARY_FEATURES)))


WRITER_DONE = ("DELETE FROM pvc_writer", ())


def outbox_ddl() -> list[str]:
    return [t.create(if_not_exists=True) for t in OUTBOX_TABLES]


# -- reading a primary's format (remote/upgrade.py sends these) ---------------------------------
FORMAT_QUERY = "SELECT key, value FROM pvc_format"
REQUIRES_QUERY = "SELECT feature FROM pvc_requires ORDER BY feature"
HAS_HISTORY_QUERY = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'refs'"
BRANCH_DBS_QUERY = "SELECT branch, db_name, url, state FROM branch_dbs ORDER BY branch"


# -- search index (issue #17): derived data, local only, rebuilt by `pvc search --reindex` -------
SEARCH_DDL = [
    # Search index: derived data, local only (never pushed), rebuilt by
    # `pvc search --reindex`. Both full-text indexes are contentless (FTS5 keeps only its
    # token lists; whatever needs a text reads it from the version store) and keyed by the
    # version's `versions.vrev`, so neither copies an id or a text.
    #
    # The history index: one document per prompt version holding what that version
    # brought in, the lines it adds to its parent version (and its path, when it starts
    # one). Its size follows the edits, not the number of versions times their length: a
    # one-line edit of a long prompt indexes one line. `search --all-versions` ranks it.
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        path, content, content='', tokenize='porter unicode61')""",
    # The tree index: the full text of the versions in the trees of the local branches
    # (search_state "tree" names those trees), moved by the difference when a branch
    # moves: after a commit, one document out and one in. `search` ranks it, restricted
    # to the versions of the tree searched. search_tree_docs records the path each
    # document was indexed with (a contentless document is deleted by giving its original
    # values back).
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_tree_fts USING fts5(
        path, content, content='', tokenize='porter unicode61')""",
    "CREATE TABLE IF NOT EXISTS search_tree_docs (vrev INTEGER PRIMARY KEY, path TEXT NOT NULL)",
    # key/value bookkeeping: the vrev indexed up to ("text_mark"), the tree of the tree
    # index ("tree"), the vrev embedded up to in each space ("vector_mark:<space>")
    "CREATE TABLE IF NOT EXISTS search_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # one row per embedding model ("space"); its vectors live in search_vec_<space>,
    # created by search_vector_ddl() when the model is first used (the width of an
    # F32_BLOB column is fixed in its DDL and depends on the model)
    """CREATE TABLE IF NOT EXISTS search_spaces (
        space INTEGER PRIMARY KEY,
        model TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )""",
    # which commits introduced a version: grep --all-versions, search results
    "CREATE INDEX IF NOT EXISTS search_changes_version ON changes(version_id)",
]

# Schema 6 kept a full copy of every version's text, schema 7 a contentless document of
# every version's full text; schema 8 indexes what each version changed. Each step drops
# the text tables and indexes again (vectors, keyed by version id, stay).
SEARCH_TEXT_RESET_DDL = [
    "DROP TABLE IF EXISTS search_fts",
    "DROP TABLE IF EXISTS search_docs",
    "DROP TABLE IF EXISTS search_tree_fts",
    "DROP TABLE IF EXISTS search_tree_docs",
    "DELETE FROM search_state WHERE key IN ('text_mark', 'tree')",
]


def search_vector_ddl(space: int, dim: int) -> list[str]:
    """DDL of the vector table of embedding space SPACE (vectors of DIM floats), keyed by
    version id: a version's vector is computed once per model (vectors are cached by content
    hash, which is the version id)."""
    space, dim = int(space), int(dim)
    return [
        f"""CREATE TABLE IF NOT EXISTS search_vec_{space} (
            version_id TEXT NOT NULL UNIQUE,
            embedding F32_BLOB({dim}) NOT NULL
        )""",
        # fewer, 8-bit neighbours: about 6 ms an insert instead of 30-40 at 256 dims
        f"CREATE INDEX IF NOT EXISTS search_vec_{space}_idx ON search_vec_{space}"
        "(libsql_vector_idx(embedding, 'metric=cosine', 'max_neighbors=16', "
        "'compress_neighbors=float8'))",
    ]


def search_vector_drop_ddl(space: int) -> list[str]:
    space = int(space)
    return [f"DROP INDEX IF EXISTS search_vec_{space}_idx", f"DROP TABLE IF EXISTS search_vec_{space}"]
