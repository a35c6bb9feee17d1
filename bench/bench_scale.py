"""How pvc's costs grow with the history, beside git on the same history (format 2).

For each size (commits), one history of 20 prompt files with one small edit per commit is
written with `git fast-import`, imported with `pvc import git`, and measured:

- stored bytes: `.pvc` (and its search index apart) vs `git gc --aggressive`;
- CLI wall time (median of --runs): `log -n 20`, `log -- PATH`, `status`, `show REV:PATH`,
  `commit` (a one-line edit), for pvc and git; a minimal click program as the floor;
- `pvc fsck` vs `git fsck --full`;
- `pvc import git`: wall time and peak RSS, and the replay rate of git itself (one
  `git add -A` + `git commit` per commit, on a sample, extrapolated);
- the first `pvc push` of the whole history to a local sqld and a `pvc clone` of it: wall
  time and peak RSS (skip with --no-remote);
- `pvc gc --aggressive`: wall time and the bytes after.

    .venv/bin/python bench/bench_scale.py                       # 1,000 10,000 100,000
    .venv/bin/python bench/bench_scale.py --sizes 1000,10000 --markdown out.md
    .venv/bin/python bench/bench_scale.py --sizes 1000000      # the opt-in million
    .venv/bin/python bench/bench_scale.py --sizes 1000000 --skip git-gc,remote,gc

Peak RSS is the pvc process's own high-water mark (VmHWM, sampled until it exits; the git
and sqld processes it talks to are not counted). Every figure is printed whether or not it
meets the target of the issue; the table says which target each row is held to.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_vs_git import (  # noqa: E402
    bench_env,
    du,
    fmt_bytes,
    fmt_s,
    generate,
    log,
    pvc_cmd,
    run,
)
from benchenv import prepare  # noqa: E402

FILES = 20
CLICK_FLOOR = ("import click\n@click.command()\ndef main():\n    click.echo('x')\n"
               "main()\n")


def _hwm(pid: int) -> int:
    """The peak RSS of process PID so far (VmHWM), in bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak(cmd: list[str], cwd: Path, env: dict) -> tuple[float, int]:
    """Wall seconds and the peak RSS of the pvc process itself (its VmHWM, sampled every
    20 ms until it exits; the git or sqld processes it starts are not counted: os.wait4's
    ru_maxrss would be the largest of them)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errf)
        high = 0
        while proc.poll() is None:
            high = max(high, _hwm(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - t
        errf.seek(0)
        err = errf.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode('utf-8', 'replace')[-2000:]}")
    return wall, high


def median(cmd: list[str], cwd: Path, env: dict, runs: int, before=None) -> float:
    """Median wall time of RUNS runs (after one warm-up); BEFORE(i) runs untimed first."""
    times = []
    for i in range(runs + 1):
        if before is not None:
            before(i)
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr.decode()[-2000:]}")
        if i:
            times.append(dt)
    return statistics.median(times)


def git_replay_rate(source: Path, work: Path, env: dict, sample: int) -> float:
    """Seconds per commit for git itself to take the history one commit at a time."""
    from bench_vs_git import replay_into_git

    from promptvc.gitio import read_history

    history = read_history(source, "HEAD")
    spent, n = replay_into_git(source, work, min(sample, len(history)), env, history)
    return spent / max(n, 1)


def one_size(commits: int, root: Path, args, env: dict) -> list[tuple[str, str, str, str]]:
    """Rows (measure, pvc, git, target) for a history of COMMITS commits."""
    rows: list[tuple[str, str, str, str]] = []
    pvc = pvc_cmd()
    src = root / "git"
    log(f"{commits:,} commits: generating the history with git fast-import")
    generate(src, FILES, max(1, commits // FILES), 1, args.seed, env)
    run(["git", "reset", "-q", "--hard"], cwd=src, env=env)
    # a file that exists at HEAD~10 and at HEAD (a rename moves a few)
    back = "HEAD~10" if commits > 10 else "HEAD"
    path = run(["git", "ls-tree", "-r", "--name-only", back], cwd=src,
               env=env).stdout.decode().split("\n")[0]

    git_bytes, gc_t = 0, 0.0
    if "git-gc" not in args.skip:
        log("git gc --aggressive (on a copy)")
        packed = root / "git-packed"
        run(["git", "clone", "-q", "--no-local", "--bare", str(src), str(packed)], env=env)
        gc_t = time.perf_counter()
        run(["git", "gc", "-q", "--aggressive", "--prune=now"], cwd=packed, env=env)
        gc_t = time.perf_counter() - gc_t
        git_bytes = du(packed / "objects")

    log("pvc import git")
    dest = root / "pvc"
    dest.mkdir()
    run(pvc + ["init"], cwd=dest, env=env)
    imp_wall, imp_rss = peak(pvc + ["import", "git", str(src)], dest, env)
    pvc_bytes = du(dest / ".pvc")
    rate = git_replay_rate(src, root / "replay", env, args.replay_sample)
    replay_total = rate * commits
    rows.append(("import wall (pvc import git; git: replay, extrapolated)", fmt_s(imp_wall),
                 fmt_s(replay_total), f">= 20x faster: {replay_total / imp_wall:.1f}x"))
    rows.append(("import peak RSS", fmt_bytes(imp_rss), "", "< 300 MB at 1M"))

    from promptvc.repo import Repo

    r = Repo(dest)
    search_bytes = sum(b for name, b in r.store.bytes_by_table().items() if "search" in name)
    r.close()
    rows.append((".pvc bytes (search index part)", f"{fmt_bytes(pvc_bytes)} "
                 f"({fmt_bytes(search_bytes)})",
                 f"{fmt_bytes(git_bytes)} (gc --aggressive, {fmt_s(gc_t)})" if git_bytes
                 else "skipped", f"<= 1.5x at 100k: {pvc_bytes / git_bytes:.2f}x"
                 if git_bytes else ""))

    log("CLI timings")
    runs = args.runs
    floor = root / "floor.py"
    floor.write_text(CLICK_FLOOR)
    click_floor = median([sys.executable, str(floor)], root, env, runs)
    pairs = [
        ("log -n 20", ["log", "-n", "20"], ["log", "-n", "20"]),
        ("log -- PATH", ["log", "--", path], ["log", "--", path]),
        ("status", ["status"], ["status"]),
        (f"show {back}:PATH", ["show", f"{back}:{path}"], ["show", f"{back}:{path}"]),
    ]
    for name, p_args, g_args in pairs:
        tp = median(pvc + p_args, dest, env, runs)
        tg = median(["git"] + g_args, src, env, runs)
        rows.append((name, fmt_s(tp), fmt_s(tg), f"{tp / click_floor:.2f}x click floor"))

    def edit_in(folder: Path):
        def before(i: int) -> None:
            with open(folder / path, "a", encoding="utf-8") as f:
                f.write(f"One more line, edit {i}.\n")
        return before

    tp = median(pvc + ["commit", "-a", "-m", "bench edit"], dest, env, runs, edit_in(dest))
    tg = median(["git", "commit", "-q", "-a", "-m", "bench edit"], src, env, runs, edit_in(src))
    rows.append(("commit (one-line edit)", fmt_s(tp), fmt_s(tg), ""))
    rows.append(("minimal click program", fmt_s(click_floor), "", "the floor"))

    if "fsck" not in args.skip:
        log("fsck")
        fsck_p, fsck_rss = peak(pvc + ["fsck", "-q"], dest, env)
        fsck_g, _ = peak(["git", "fsck", "--full", "--no-progress"], src, env)
        rows.append(("fsck (peak RSS)", f"{fmt_s(fsck_p)} ({fmt_bytes(fsck_rss)})",
                     fmt_s(fsck_g), f"<= git at 100k: {fsck_p / fsck_g:.2f}x"))

    if not args.no_remote and "remote" not in args.skip:
        from promptvc.remote.sqld import SqldServer, find_sqld

        binary = find_sqld()
        if binary is None:
            rows.append(("push / clone", "skipped: no sqld binary (scripts/install-sqld)", "", ""))
        else:
            log("first push of the whole history to a local sqld, then a clone")
            srv = SqldServer(binary).start(root / "srv" / "db")
            try:
                url = f"http://localhost:{srv.http_port}"
                run(pvc + ["remote", "add", "origin", url], cwd=dest, env=env)
                push_wall, push_rss = peak(pvc + ["push", "origin", "main"], dest, env)
                clone_wall, clone_rss = peak(pvc + ["clone", url, str(root / "clone")], root, env)
            finally:
                srv.stop()
            rows.append(("first push (peak RSS)", f"{fmt_s(push_wall)} ({fmt_bytes(push_rss)})",
                         "", "RSS < 300 MB at 1M"))
            rows.append(("clone (peak RSS)", f"{fmt_s(clone_wall)} ({fmt_bytes(clone_rss)})",
                         "", ""))

    if "gc" not in args.skip:
        log("pvc gc --aggressive")
        gc_wall, _ = peak(pvc + ["gc", "--aggressive", "-q"], dest, env)
        rows.append(("gc --aggressive (bytes after)", f"{fmt_s(gc_wall)} "
                     f"({fmt_bytes(du(dest / '.pvc'))})", "", ""))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000",
                    help="comma-separated commit counts (default 1000,10000,100000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per CLI timing (median)")
    ap.add_argument("--replay-sample", type=int, default=200,
                    help="commits replayed into git to time git's own rate (default 200)")
    ap.add_argument("--no-remote", action="store_true", help="skip push and clone")
    ap.add_argument("--skip", default="", type=lambda v: {s for s in v.split(",") if s},
                    help="comma-separated steps to leave out: git-gc, fsck, remote, gc "
                         "(e.g. the long steps of a million-commit run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="work here and keep everything")
    ap.add_argument("--markdown", type=Path, help="also write the tables here")
    args = ap.parse_args()
    prepare()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    base = args.workdir or Path(tempfile.mkdtemp(prefix="pvc-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    env = bench_env(base / "home")
    env.update(GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
    (base / "home").mkdir(exist_ok=True)
    out: list[str] = []
    try:
        for n in sizes:
            root = base / f"n{n}"
            if root.exists():
                shutil.rmtree(root)
            root.mkdir()
            rows = one_size(n, root, args, env)
            out.append(f"\n### {n:,} commits ({FILES} prompt files, one small edit each)\n")
            out.append("| measure | pvc | git | target / ratio |")
            out.append("|---|---|---|---|")
            out.extend(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
            print("\n".join(out[-(len(rows) + 3):]), flush=True)
            if not args.workdir:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
