"""Core storage and CLI benchmark (issue: core repository).

Builds a history of FILES prompt files x VERSIONS versions (1-20 KB, small realistic
edits; each commit edits FILES_PER_COMMIT files) and prints:

- bytes stored vs the sum of full copies;
- in-process reconstruct time of the oldest and newest version of each file (cold cache);
- `pvc log -- PATH`, `pvc commit`, `pvc status` wall time;
- `pvc --version` beside a bare `python -c pass` and a minimal click program.

    .venv/bin/python bench/bench_core.py                    # 100 files x 1,000 versions
    .venv/bin/python bench/bench_core.py --files 20 --versions 100   # quick run
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PVC_AUTHOR", "Bench <bench@example.com>")

from promptgen import document, edit  # noqa: E402

from promptvc.objects import VersionStore  # noqa: E402
from promptvc.repo import Repo  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def wall(cmd: list[str], cwd: Path, runs: int, env=None, setup=None) -> list[float]:
    out = []
    for _ in range(runs):
        if setup:
            setup()
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
        out.append(time.perf_counter() - t)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed: {p.stderr.decode()[:500]}")
    return out


def build(root: Path, files: int, versions: int, per_commit: int, seed: int):
    rnd = random.Random(seed)
    repo = Repo.init(root)
    names = [f"prompts/{['agents', 'support', 'eval', 'tools'][i % 4]}/p{i:03d}.md"
             for i in range(files)]
    texts = {n: document(rnd, rnd.randint(1_000, 20_000)) for n in names}
    history = {n: [] for n in names}
    full_bytes = 0
    commits = 0
    t0 = time.perf_counter()
    counts = {n: 0 for n in names}
    author = "Bench <bench@example.com>"
    # first commit: every file
    batch = {n: texts[n].encode() for n in names}
    repo.commit_files(batch, "initial prompts", author=author)
    for n in names:
        history[n].append(batch[n])
        counts[n] = 1
        full_bytes += len(batch[n])
    commits += 1
    pending = [n for n in names]
    while pending:
        chosen = rnd.sample(pending, min(per_commit, len(pending)))
        batch = {}
        for n in chosen:
            if rnd.random() < 0.03 and len(history[n]) > 3:  # a revert
                new = history[n][-3].decode()
            else:
                new = edit(rnd, texts[n])
            texts[n] = new
            data = new.encode()
            batch[n] = data
        info = repo.commit_files(batch, f"edit {', '.join(sorted(chosen)[:3])}", author=author)
        commits += 1 if info else 0
        for n, data in batch.items():
            history[n].append(data)
            counts[n] += 1
            full_bytes += len(data)
        pending = [n for n in names if counts[n] < versions]
        if commits % 500 == 0:
            rate = sum(counts.values()) / (time.perf_counter() - t0)
            print(f"  built {commits} commits, {sum(counts.values())} versions "
                  f"({rate:.0f} versions/s)", file=sys.stderr)
    build_s = time.perf_counter() - t0
    repo.close()
    return names, history, full_bytes, commits, build_s


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--files-per-commit", type=int, default=10)
    ap.add_argument("--runs", type=int, default=10, help="repeats of each CLI timing")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="build the repository here and keep it")
    args = ap.parse_args()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pvc-bench-"))
    root = tmp / "repo"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    print(f"building {args.files} files x {args.versions} versions in {root} ...", file=sys.stderr)
    names, history, full_bytes, commits, build_s = build(
        root, args.files, args.versions, args.files_per_commit, args.seed)
    nversions = sum(len(v) for v in history.values())

    repo = Repo.open(root)
    repo.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = root / ".pvc" / "pvc.db"
    db_bytes = sum(p.stat().st_size for p in db.parent.glob("pvc.db*"))
    totals = repo.store.storage_totals()

    # reconstruct: oldest and newest version of every file, cold cache each time
    tree_now = repo.tree(repo.head())
    ids_old = []
    ids_new = []
    from promptvc.objects import sha256

    for n in names:
        ids_old.append(sha256(history[n][0]))
        ids_new.append(tree_now[n])
    times = {"oldest": [], "newest": []}
    for _ in range(5):
        for label, ids in (("oldest", ids_old), ("newest", ids_new)):
            for vid in ids:
                vs = VersionStore(repo.store, repo.policy)
                t = time.perf_counter()
                vs.get(vid)
                times[label].append((time.perf_counter() - t) * 1000)
    chains = [repo.store.version_meta(v)[1] for v in ids_new]
    repo.close()

    # check out the working files so that commit/status run on a real working folder
    exe = [sys.executable, "-m", "promptvc"]
    subprocess.run(exe + ["restore", "."], cwd=root, check=True, capture_output=True)
    subprocess.run(exe + ["status", "-s"], cwd=root, check=True, capture_output=True)
    time.sleep(2.1)  # let the stat cache settle (racy-git rule)
    subprocess.run(exe + ["status", "-s"], cwd=root, check=True, capture_output=True)

    pvc_bin = str(Path(sys.executable).with_name("pvc"))
    target = names[len(names) // 2]
    t_log = wall([pvc_bin, "log", "--oneline", "--", target], root, args.runs)
    t_log_all = wall([pvc_bin, "log", "--oneline", "-n", "20"], root, args.runs)
    t_status = wall([pvc_bin, "status", "-s"], root, args.runs)
    t_show = wall([pvc_bin, "show", f"HEAD:{target}"], root, args.runs)
    rnd = random.Random(99)

    def touch():
        p = root / names[rnd.randrange(len(names))]
        p.write_text(edit(rnd, p.read_text()))

    t_commit = wall([pvc_bin, "commit", "-m", "bench edit"], root, args.runs, setup=touch)
    t_version = wall([pvc_bin, "--version"], root, args.runs)
    t_pass = wall([sys.executable, "-c", "pass"], root, args.runs)
    click_prog = tmp / "minimal_click.py"
    click_prog.write_text("import click\n@click.command()\ndef main():\n    click.echo('hi')\n"
                          "main()\n")
    t_click = wall([sys.executable, str(click_prog)], root, args.runs)

    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print()
    print(f"## pvc core benchmark: {args.files} files x {args.versions} versions, "
          f"{commits} commits ({args.files_per_commit} files per commit)")
    print()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| versions committed | {nversions:,} ({totals['versions']:,} distinct) | |")
    print(f"| sum of full copies | {full_bytes / 1e6:,.1f} MB | |")
    print(f"| database file (incl. trees, commits, indexes) | {db_bytes / 1e6:,.1f} MB "
          f"({db_bytes / full_bytes:.1%} of full copies) | <= 20% |")
    print(f"| stored prompt version bytes | {totals['stored'] / 1e6:,.1f} MB "
          f"({totals['stored'] / full_bytes:.1%}); {totals['snapshots']:,} snapshots | |")
    print(f"| reconstruct oldest version p50 / p99 | {pct(times['oldest'], 50):.3f} / "
          f"{pct(times['oldest'], 99):.3f} ms | p99 <= 2 ms |")
    print(f"| reconstruct newest version p50 / p99 | {pct(times['newest'], 50):.3f} / "
          f"{pct(times['newest'], 99):.3f} ms (chain length median {statistics.median(chains):.0f}, "
          f"max {max(chains)}) | p99 <= 2 ms |")
    print(f"| `pvc log -- PATH` | {med(t_log):.0f} ms | <= 2x minimal click "
          f"({2 * med(t_click):.0f} ms) |")
    print(f"| `pvc log -n 20` | {med(t_log_all):.0f} ms | |")
    print(f"| `pvc show HEAD:PATH` | {med(t_show):.0f} ms | |")
    print(f"| `pvc status -s` | {med(t_status):.0f} ms | |")
    print(f"| `pvc commit` (one edited file) | {med(t_commit):.0f} ms | |")
    print(f"| `pvc --version` | {med(t_version):.0f} ms | |")
    print(f"| `python -c pass` | {med(t_pass):.0f} ms | |")
    print(f"| minimal click program | {med(t_click):.0f} ms | |")
    print(f"| build (in-process, {nversions:,} versions) | {build_s:.1f} s "
          f"({nversions / build_s:,.0f} versions/s) | |")
    print()
    print(f"(wall times are medians of {args.runs} runs; reconstruct times are 5 rounds over "
          f"every file with a cold cache)")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
