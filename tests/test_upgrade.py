"""Format 1 -> format 2, on the frozen format-1 fixtures made by pvc a2b9501
(tests/fixtures/format1/, see its README): the local repository and the clone upgrade in
place on open with nothing lost; the primary upgrades with `pvc remote upgrade`; a pvc
before format 2 can no longer write to an upgraded primary, and this pvc refuses a primary
whose format it does not know."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from promptvc.objects import manifest_bytes, parse_manifest, sha256
from promptvc.remote.hrana import HranaClient, StatementError
from promptvc.store import Store, spec
from promptvc.store.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).parent / "fixtures" / "format1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def user_version(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def copy_fixture(name: str, dst: Path) -> Path:
    shutil.copytree(FIXTURES / name, dst)
    assert user_version(dst / ".pvc" / "pvc.db") == 4  # format 1, as frozen
    return dst


def logical_rows(db: Path) -> dict[str, list]:
    """The rows of a database as format 1 held them (hex ids), read through the Store."""
    s = Store(str(db))
    try:
        commits = sorted(s.iter_commits(), key=lambda c: c.id)
        out = {
            "commits": [[c.id, c.tree_id, c.parent1, c.parent2, c.author, c.committed_at,
                         c.message, c.generation] for c in commits],
            "versions": sorted([[v.id, v.kind, v.parent_version_id, v.parent2_version_id, v.path,
                                 v.storage, v.codec, bytes(v.data).hex(), v.size, v.chain_len,
                                 v.chain_bytes, v.created_at] for v in s.iter_versions()]),
            "changes": sorted([[ch.commit_id, ch.path, ch.status, ch.old_path, ch.version_id,
                                ch.old_version_id, ch.insertions, ch.deletions]
                               for c in commits for ch in s.changes_of(c.id)]),
            "reflog": [[r.seq, r.ref, r.old, r.new, r.who, r.at, r.action]
                       for r in reversed(s.reflog())],
            "branch_dbs": [[b.remote, b.branch, b.db_name, b.url, b.parent, b.created_at, b.state]
                           for b in s.branch_dbs()],
        }
    finally:
        s.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out["refs"] = [list(r) for r in conn.execute(
            "SELECT name, lower(hex(target)), updated_at FROM refs ORDER BY name")]
        for name in ("state", "tracked", "experiments", "events", "event_summary",
                     "experiment_units"):
            out[name] = [list(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY 1")]
    finally:
        conn.close()
    return _without_mtimes(out)


def _without_mtimes(rows: dict[str, list]) -> dict[str, list]:
    """The stat cache's mtimes are those of the checkout the fixture was copied from (git
    does not keep mtimes), so they are refreshed on first use: compare the rest."""
    rows = dict(rows)
    rows["tracked"] = [r[:3] + r[4:] for r in rows["tracked"]]
    return rows


def frozen_rows(which: str) -> dict[str, list]:
    rows = EXPECTED[which]["rows"]
    out = {k: v for k, v in rows.items()}
    out["versions"] = sorted(rows["versions"])
    out["changes"] = sorted(rows["changes"])
    out["commits"] = sorted(rows["commits"])
    return _without_mtimes(out)


def check_outputs(pvc, which: str, skip: tuple[str, ...] = ()) -> None:
    for cmd, expected in EXPECTED[which]["outputs"].items():
        if cmd in skip:
            continue
        args = cmd.split(" ")
        r = pvc(*args)
        assert r.stdout == expected, cmd


@pytest.mark.parametrize("which", ["local", "clone"])
def test_fixture_upgrades_in_place_with_nothing_lost(which, tmp_path, monkeypatch, pvc):
    work = copy_fixture(which, tmp_path / which)
    monkeypatch.chdir(work)
    # the clone's experiments live on the primary (its replica is not frozen): see below
    skip = ("experiment list --json",) if which == "clone" else ()
    check_outputs(pvc, which, skip)  # the first command upgrades the database
    db = work / ".pvc" / "pvc.db"
    assert user_version(db) == SCHEMA_VERSION
    assert logical_rows(db) == frozen_rows(which)
    r = pvc("fsck")
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("no problems found\n")
    # and it keeps working: a new commit on top of the upgraded history
    Path("a.md").write_text("You are a helpful assistant.\nBe brief.\nNo jargon.\nUpgraded.\n")
    assert pvc("commit", "-am", "after the upgrade").exit_code == 0
    log = json.loads(pvc("log", "--json").stdout)
    assert [c["id"] for c in log[1:]] == [c["id"] for c in json.loads(
        EXPECTED[which]["outputs"]["log --json"])]
    assert pvc("fsck").exit_code == 0


def test_upgrade_is_compact(tmp_path):
    """Binary ids: the same history takes fewer pages than in format 1."""
    work = copy_fixture("local", tmp_path / "local")
    db = work / ".pvc" / "pvc.db"
    before = history_bytes(db)
    s = Store(str(db))
    s.check_schema()
    s.close()
    assert history_bytes(db) < before


def history_bytes(db: Path) -> int:
    """Bytes of the history tables and their indexes (dbstat), without tables that format 2
    adds (an empty table costs pages of its own on a history this small)."""
    conn = sqlite3.connect(db)
    try:
        names = ("versions", "commits", "changes", "refs", "reflog")
        return int(conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
            f"WHERE tbl_name IN ({','.join('?' * len(names))}))", names).fetchone()[0])
    finally:
        conn.close()


def test_failed_upgrade_changes_nothing(tmp_path, pvc, monkeypatch):
    work = copy_fixture("local", tmp_path / "local")
    db = work / ".pvc" / "pvc.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE refs SET target = 'not hex' WHERE name = 'refs/tags/v1'")
    conn.commit()
    conn.close()
    monkeypatch.chdir(work)
    r = pvc("log", "-n", "1")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: cannot upgrade the repository database {db} to format 2: ")
    assert r.stderr.endswith("; nothing was changed\n"
                             "hint: run `pvc fsck` with the pvc that made it, then try again\n")
    assert user_version(db) == 4
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM commits").fetchone()[0] == 7
    assert conn.execute("SELECT typeof(id) FROM commits LIMIT 1").fetchone()[0] == "text"
    conn.close()


# -- the primary ---------------------------------------------------------------------------------
def load_database(url: str, fixture: Path, rewrite: dict[str, str]) -> None:
    """Serve a frozen database file again: its schema and rows, into the namespace at URL
    (one atomic batch). REWRITE: old -> new text in the branch mapping's URLs."""
    src = sqlite3.connect(f"file:{fixture}?mode=ro", uri=True)
    try:
        objects = src.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                              "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'").fetchall()
        stmts: list[tuple[str, tuple]] = [(sql, ()) for kind, _, _, sql in objects
                                          if kind == "table"]
        for kind, name, _, _ in objects:
            if kind != "table":
                continue
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({name})")]
            for row in src.execute(f"SELECT * FROM {name}"):
                row = tuple(bytes(v) if isinstance(v, bytes) else v for v in row)
                if name == "branch_dbs":
                    row = tuple(_rewrite(v, rewrite) for v in row)
                marks = ",".join("?" for _ in cols)
                stmts.append((f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})", row))
        stmts += [(sql, ()) for kind, _, _, sql in objects if kind in ("index", "trigger")]
    finally:
        src.close()
    with HranaClient(url) as c:
        c.batch(stmts)


def _rewrite(v, rewrite: dict[str, str]):
    if isinstance(v, str):
        for old, new in rewrite.items():
            v = v.replace(old, new)
    return v


def rows_of(url: str, table: str) -> list[list]:
    with HranaClient(url) as c:
        rows = c.execute(f"SELECT * FROM {table} ORDER BY 1").rows
    return [[bytes(v).hex() if isinstance(v, (bytes, bytearray)) else v for v in r] for r in rows]


FORMAT1_TABLES = ("branch_dbs", "cas_guard", "changes", "commits", "event_summary", "events",
                  "experiment_units", "experiments", "reflog", "refs", "versions")


@pytest.fixture
def old_primary(server):
    """The frozen format-1 primary, served by this test's sqld: (main url, branch url, db)."""
    frozen = EXPECTED["primary"]
    old_port = frozen["url"].rsplit(":", 1)[1]
    main_url = f"http://localhost:{server.http_port}"
    db = frozen["branch_db"]
    server.create_namespace(db)
    load_database(main_url, FIXTURES / "primary" / "default.db",
                  {f":{old_port}": f":{server.http_port}"})
    load_database(server.namespace_url(db), FIXTURES / "primary" / "branch.db", {})
    return main_url, server.namespace_url(db), db


def replay_format1_push(url: str) -> None:
    """Send what format-1 pvc sends on a push (recorded by make_format1.py)."""
    recorded = json.loads((FIXTURES / "format1_push.json").read_text())
    stmts = [(sql, tuple(bytes.fromhex(v["blob"]) if isinstance(v, dict) else v for v in args))
             for sql, args in recorded]
    with HranaClient(url) as c:
        c.batch(stmts)


def test_format1_push_lands_on_a_format1_primary(old_primary):
    """The recording is a real format-1 push: on the old primary it moves main."""
    main_url, _, _ = old_primary
    before = dict((r[0], r[1]) for r in rows_of(main_url, "refs"))
    replay_format1_push(main_url)
    after = dict((r[0], r[1]) for r in rows_of(main_url, "refs"))
    assert after["refs/heads/main"] != before["refs/heads/main"]


def test_primary_upgrade(old_primary, tmp_path, pvc, monkeypatch, server):
    main_url, branch_url, db = old_primary
    frozen = EXPECTED["primary"]
    # this pvc reads a format-1 primary (clone) but refuses to write it
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", main_url, "fresh").exit_code == 0
    monkeypatch.chdir(tmp_path / "fresh")
    Path("a.md").write_text("new text\n")
    assert pvc("commit", "-am", "new").exit_code == 0
    r = pvc("push")
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: the primary {main_url} has storage format 1, which this pvc does not write; "
        "nothing was written\n"
        "hint: upgrade it with `pvc remote upgrade origin` (clones on an older pvc can still "
        "read it afterwards, but must upgrade pvc to write)\n")
    assert rows_of(main_url, "refs") == frozen["default"]["refs"]
    # the upgrade: main and the branch database, atomically each, idempotent
    r = pvc("remote", "upgrade")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("origin: main database: upgraded from format 1 to format 2\n"
                        f"origin: branch database {db}: upgraded from format 1 to format 2\n")
    r = pvc("remote", "upgrade", "origin", "--json")
    assert json.loads(r.stdout) == {"remote": "origin", "format": 2, "databases": [
        {"database": "main", "url": main_url, "before": 2, "after": 2, "changed": False},
        {"database": db, "url": branch_url, "before": 2, "after": 2, "changed": False}]}
    # nothing of format 1 changed, and the format is recorded
    for table in FORMAT1_TABLES:
        expected = frozen["default"][table]
        if table == "branch_dbs":
            expected = [[_rewrite(v, {f":{frozen['url'].rsplit(':', 1)[1]}":
                                      f":{server.http_port}"}) for v in r] for r in expected]
        assert rows_of(main_url, table) == expected, table
    for table in ("changes", "commits", "reflog", "refs", "versions"):
        assert rows_of(branch_url, table) == frozen["branch"][table], table
    for url in (main_url, branch_url):
        assert rows_of(url, "pvc_format") == [["format", "2"]]
        assert rows_of(url, "pvc_requires") == [[f] for f in sorted(spec.PRIMARY_FEATURES)]
    # a pvc before format 2 (its recorded push) now fails and writes nothing
    with pytest.raises(StatementError) as info:
        replay_format1_push(main_url)
    assert spec.OLD_WRITER_MESSAGE in info.value.message
    assert rows_of(main_url, "refs") == frozen["default"]["refs"]
    assert len(rows_of(main_url, "commits")) == len(frozen["default"]["commits"])
    # this pvc writes it
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert rows_of(main_url, "pvc_writer") == []


def test_frozen_clone_after_primary_upgrade(old_primary, tmp_path, pvc, monkeypatch, server):
    main_url, branch_url, db = old_primary
    clone = copy_fixture("clone", tmp_path / "clone")
    config = clone / ".pvc" / "config"
    config.write_text(config.read_text().replace(EXPECTED["clone"]["url"], main_url))
    monkeypatch.chdir(clone)
    assert pvc("remote", "upgrade").exit_code == 0
    r = pvc("fetch")
    assert r.exit_code == 0, r.output
    assert pvc("experiment", "list", "--json").stdout == (
        EXPECTED["clone"]["outputs"]["experiment list --json"])
    assert pvc("log").stdout == EXPECTED["clone"]["outputs"]["log"]
    Path("a.md").write_text("clone edit\n")
    assert pvc("commit", "-am", "from the clone").exit_code == 0
    r = pvc("push")
    assert r.exit_code == 0, r.output
    assert pvc("fsck").exit_code == 0


def test_newer_primary_is_refused(sqld_namespace, tmp_path, pvc, monkeypatch):
    url = sqld_namespace.url
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    monkeypatch.chdir(work)
    pvc("init")
    Path("a.md").write_text("one\n")
    pvc("add", "a.md")
    pvc("commit", "-m", "one")
    pvc("remote", "add", "origin", url)
    assert pvc("push").exit_code == 0
    assert rows_of(url, "pvc_format") == [["format", "2"]]
    Path("a.md").write_text("two\n")
    pvc("commit", "-am", "two")
    with HranaClient(url) as c:  # a later pvc adds a feature this one does not know
        c.execute("INSERT INTO pvc_requires (feature) VALUES ('zstd-rows')")
    before = rows_of(url, "refs")
    message = (f"error: the primary {url} has storage format 2 and requires zstd-rows, which "
               "this pvc (format 2) does not know; nothing was written\n"
               "hint: upgrade pvc (pip install -U promptvc) to write to it\n")
    r = pvc("push")
    assert (r.exit_code, r.stderr) == (1, message)
    r = pvc("remote", "upgrade")
    assert (r.exit_code, r.stderr) == (1, message)
    with HranaClient(url) as c:
        c.execute("DELETE FROM pvc_requires WHERE feature = 'zstd-rows'")
        c.execute("UPDATE pvc_format SET value = '3' WHERE key = 'format'")
    r = pvc("push", "--tags")
    assert r.exit_code == 1
    assert r.stderr == (f"error: the primary {url} has storage format 3, which this pvc "
                        "(format 2) does not know; nothing was written\n"
                        "hint: upgrade pvc (pip install -U promptvc) to write to it\n")
    assert rows_of(url, "refs") == before


def test_upgrade_of_an_empty_primary(sqld_namespace, repo, pvc):
    pvc("remote", "add", "origin", sqld_namespace.url)
    r = pvc("remote", "upgrade")
    assert (r.exit_code, r.stdout) == (
        0, "origin: main database: empty (the first push creates format 2)\n")


# -- tree manifests -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a\u2028b.md", "a\x85b.md", "a\rb.md", "a\x0bb.md",
                                  "a\x1cb.md", "line\nfeed.md", "a b.md", "\n", "x:12 y"])
def test_no_file_name_breaks_a_manifest(name):
    tree = {name: sha256(b"1"), "plain.md": sha256(b"2")}
    assert parse_manifest(manifest_bytes(tree)) == tree


def test_manifest_bytes_are_format1_bytes_for_ordinary_names():
    """Tree ids do not change: format 1's manifest text, byte for byte."""
    tree = {"b.md": sha256(b"1"), "a/c.md": sha256(b"2"), "caf\u00e9.md": sha256(b"3")}
    assert manifest_bytes(tree) == b"".join(
        f"{vid} {path}\n".encode() for path, vid in sorted(tree.items(), key=lambda kv: kv[0].encode()))


def test_two_processes_upgrading_at_once(tmp_path):
    """The second opener waits for the first one's upgrade and then finds nothing to do."""
    work = copy_fixture("local", tmp_path / "local")
    db = str(work / ".pvc" / "pvc.db")
    late, first = Store(db), Store(db)
    seen = iter([4])  # `late` read version 4 before `first` upgraded
    real = late.user_version
    late.user_version = lambda: next(seen, None) or real()
    assert first.migrate() == ["0005_format2_compact_rows", "0006_search_index",
                               "0007_search_contentless", "0008_search_changed_lines"]
    assert late.migrate() == []
    assert user_version(Path(db)) == SCHEMA_VERSION
    assert len(list(late.iter_commits())) == 7
    first.close()
    late.close()
