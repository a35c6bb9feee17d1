"""Size of `.pvc` in format 1 and format 2 on the same generated history (issue #13).

Generates a git history with bench_vs_git.generate (FILES prompt files, one small edit per
commit), imports it with `pvc import git` once with this checkout (format 2) and, when
--format1-src is given, once with a format-1 checkout (e.g. `git worktree add /tmp/pvc-f1
a2b9501`), and prints the bytes of `.pvc` (WAL folded in) beside `git gc --aggressive`.

    .venv/bin/python bench/format_size.py --files 20 --versions 500 --format1-src /tmp/pvc-f1
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_vs_git import bench_env, du, fmt_bytes, generate, run  # noqa: E402


def import_with(src: Path | None, source: Path, dest: Path, env: dict) -> tuple[int, float]:
    env = dict(env)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    dest.mkdir(parents=True)
    cmd = [sys.executable, "-m", "promptvc"]
    run(cmd + ["init"], cwd=dest, env=env)
    t = time.perf_counter()
    run(cmd + ["import", "git", str(source)], cwd=dest, env=env)
    wall = time.perf_counter() - t
    db = dest / ".pvc" / "pvc.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return du(dest / ".pvc"), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--versions", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format1-src", type=Path, help="a checkout of format-1 pvc (a2b9501)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pvc-format-size-"))
    home = work / "home"
    home.mkdir()
    env = bench_env(home)
    source = work / "source"
    commits = generate(source, args.files, args.versions, 1, args.seed, env)
    print(f"history: {commits} commits, {args.files} files (seed {args.seed})")
    rows = []
    if args.format1_src:
        size, wall = import_with(args.format1_src.resolve(), source, work / "f1", env)
        rows.append(("pvc format 1 (.pvc)", size, wall))
    size, wall = import_with(None, source, work / "f2", env)
    rows.append(("pvc format 2 (.pvc)", size, wall))
    run(["git", "gc", "--aggressive", "-q"], cwd=source, env=env)
    rows.append(("git gc --aggressive (.git/objects)", du(source / ".git" / "objects"), 0.0))
    for name, size, wall in rows:
        extra = f"  import {wall:.1f} s" if wall else ""
        print(f"{name:<38} {fmt_bytes(size):>10}  ({size:,} bytes){extra}")
    for label in ("f1", "f2"):
        db = work / label / ".pvc" / "pvc.db"
        if db.exists():
            print(f"{label}: " + ", ".join(f"{n} {fmt_bytes(b)}" for n, b in table_bytes(db)))
    if args.keep:
        print(f"kept {work}")
    else:
        subprocess.run(["rm", "-rf", str(work)], check=False)


def table_bytes(db: Path) -> list[tuple[str, int]]:
    """Bytes per table and index (pages x page size), largest first."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")]
        out = []
        for n in names:
            try:
                pages = conn.execute("SELECT count(*) FROM dbstat WHERE name = ?", (n,)).fetchone()[0]
            except sqlite3.OperationalError:
                return []  # this sqlite3 has no dbstat
            out.append((n, pages * page))
        return sorted(out, key=lambda kv: -kv[1])[:8]
    finally:
        conn.close()


if __name__ == "__main__":
    os.environ.setdefault("RUST_LOG", "off")
    main()
