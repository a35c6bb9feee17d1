"""pvc beside git on the same history: import, storage, CLI latency, reconstruct latency.

One command runs the whole comparison and prints a table (plain and markdown):

- import time: `pvc import git` of the whole history, vs replaying it into git with one
  `git add -A` + `git commit` per version (timed on a sample of the first --replay-sample
  commits and extrapolated; the output says so);
- stored bytes: pvc's database and its version data, vs every version stored in full, vs
  git's loose objects (`du` of .git/objects before any gc), the pack `git fast-import`
  writes, `git gc` and `git gc --aggressive`;
- CLI wall time (median of --runs runs) of `log`, `log -- PATH`, `show REV:PATH` of the
  oldest version of PATH, `diff FIRST LAST -- PATH`, for pvc and git; plus a minimal click
  program and `git --version` as the floor of each;
- in-process reconstruct time (p50/p99) of random versions (cold cache), vs a warm
  `git cat-file --batch` round trip for the same contents.

The history is generated (default: 100 files x 1,000 versions of 1-20 KB prompt-like text,
small edits, some reverts and renames, one file version per commit, written with one
`git fast-import`) or taken from any git repository with --git-repo PATH.

    .venv/bin/python bench/bench_vs_git.py                          # 100 x 1,000 (100k commits)
    .venv/bin/python bench/bench_vs_git.py --files 20 --versions 200
    .venv/bin/python bench/bench_vs_git.py --git-repo ~/src/prompts --markdown out.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
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

from promptgen import document, edit  # noqa: E402

AUTHORS = ["Ada Prompt <ada@example.com>", "Ben Tuner <ben@example.org>",
           "Chen Evals <chen@example.net>", "Dee Ops <dee@example.com>"]
ZONES = ["+0000", "+0100", "-0500", "+0530"]
FOLDERS = ["agents", "support", "eval", "tools"]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def bench_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PVC_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PVC_AUTHOR="Bench <bench@example.com>",
               RUST_LOG="off", LC_ALL="C", GIT_PAGER="cat", PAGER="cat")
    return env


def run(cmd: list[str], cwd: Path | None = None, env=None, input: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env, input=input, capture_output=True)
    if check and p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr.decode('utf-8', 'replace')[-2000:]}")
    return p


def du(path: Path, apparent: bool = True) -> int:
    """Bytes under PATH: apparent sizes (du -sb), or disk blocks (du -sk x 1024)."""
    out = run(["du", "-sb" if apparent else "-sk", str(path)]).stdout.split()[0]
    return int(out) * (1 if apparent else 1024)


# -- the generated history ------------------------------------------------------------------
def generate(dest: Path, files: int, versions: int, per_commit: int, seed: int,
             env: dict) -> int:
    """Write FILES x VERSIONS prompt versions into a new git repository at DEST with one
    `git fast-import`; PER_COMMIT file versions per commit. Returns the commit count."""
    rnd = random.Random(seed)
    run(["git", "init", "-q", "-b", "main", str(dest)], env=env)
    proc = subprocess.Popen(["git", "-C", str(dest), "fast-import", "--quiet"], env=env,
                            stdin=subprocess.PIPE)
    out = proc.stdin
    assert out is not None
    paths = [f"prompts/{FOLDERS[i % 4]}/p{i:03d}.md" for i in range(files)]
    texts: list[str | None] = [None] * files
    recent: list[list[str]] = [[] for _ in range(files)]
    renames = 0
    epoch = 1_704_067_200  # 2024-01-01T00:00:00Z
    commits = 0
    order = [(v, f) for v in range(versions) for f in range(files)]  # round robin
    for start in range(0, len(order), per_commit):
        ops: list[bytes] = []
        touched = []
        for v, f in order[start:start + per_commit]:
            if texts[f] is None:
                new = document(rnd, rnd.randint(1_000, 20_000))
                what = "add"
            elif rnd.random() < 0.02 and len(recent[f]) > 3:
                new = recent[f][-rnd.randint(2, min(6, len(recent[f])))]
                what = "revert"
            else:
                new = texts[f]
                for _ in range(rnd.randint(1, 3)):
                    new = edit(rnd, new)
                what = "edit"
            if what != "add" and rnd.random() < 0.003:  # a rename, usually with an edit
                old = paths[f]
                paths[f] = f"prompts/{rnd.choice(FOLDERS)}/p{f:03d}-r{renames}.md"
                renames += 1
                ops.append(b"D " + old.encode() + b"\n")
                what = "rename"
            texts[f] = new
            recent[f] = (recent[f] + [new])[-8:]
            data = new.encode()
            ops.append(b"M 100644 inline " + paths[f].encode() + b"\n")
            ops.append(b"data %d\n" % len(data) + data + b"\n")
            touched.append(f"{what} {paths[f].rsplit('/', 1)[-1]}")
        author = AUTHORS[commits % len(AUTHORS)].encode()
        when = b"%d %s" % (epoch + commits * 97, ZONES[commits % len(ZONES)].encode())
        msg = (", ".join(touched[:3]) + (" ..." if len(touched) > 3 else "")
               + f"\n\nstep {commits}\n").encode()
        out.write(b"commit refs/heads/main\nauthor " + author + b" " + when + b"\ncommitter "
                  + author + b" " + when + b"\ndata %d\n" % len(msg) + msg)
        out.writelines(ops)
        out.write(b"\n")
        commits += 1
        if commits % 10_000 == 0:
            log(f"  generated {commits} commits")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed while generating the history")
    return commits


# -- helpers ------------------------------------------------------------------------------
def pvc_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "pvc"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "promptvc"]


_BOOT = ("import sys; from promptvc.cli.main import cli, main; "
         "from promptvc.cli.gitcmds import COMMANDS; "
         "[cli.add_command(c) for c in COMMANDS if c.name not in cli.commands]; "
         "main(sys.argv[1:])")


def pvc_import_cmd() -> list[str]:
    """`pvc`, or a shim that registers `pvc import`/`export` while main.py does not yet."""
    from promptvc.cli.main import cli

    return pvc_cmd() if "import" in cli.commands else [sys.executable, "-c", _BOOT]


def median_wall(cmd: list[str], cwd: Path, env: dict, runs: int) -> float:
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr.decode()[-2000:]}")
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))]


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def fmt_s(s: float) -> str:
    if s < 0.001:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


# -- the steps --------------------------------------------------------------------------------
def replay_into_git(source: Path, dest: Path, sample: int, env: dict, history) -> tuple[float, int]:
    """Replay the first SAMPLE commits with one `git add -A` + `git commit` each; return the
    time spent in those two commands and the number of commits replayed."""
    from promptvc.gitio import BlobReader

    part = history[:sample]
    blobs = [ch.new_blob for c in part for ch in c.changes
             if ch.status != "D" and ch.new_mode.startswith("100")]
    reader = BlobReader(source, blobs)
    contents = {b: reader.read(b) for b in blobs}
    reader.close()
    run(["git", "init", "-q", "-b", "main", str(dest)], env=env)
    spent = 0.0
    for c in part:
        for ch in c.changes:
            if ch.status in "RD" or (ch.status == "T" and not ch.new_mode.startswith("100")):
                old = dest / os.fsdecode(ch.old_path if ch.status == "R" else ch.path)
                if old.exists() or old.is_symlink():
                    old.unlink()
            if ch.status != "D" and ch.new_mode.startswith("100"):
                p = dest / os.fsdecode(ch.path)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(contents[ch.new_blob])
        cenv = dict(env, GIT_AUTHOR_NAME=c.name or "x", GIT_AUTHOR_EMAIL=c.email,
                    GIT_AUTHOR_DATE=c.date, GIT_COMMITTER_NAME=c.name or "x",
                    GIT_COMMITTER_EMAIL=c.email, GIT_COMMITTER_DATE=c.date)
        t = time.perf_counter()
        run(["git", "add", "-A"], cwd=dest, env=cenv)
        run(["git", "commit", "-q", "--allow-empty", "--no-verify", "-m", c.message or "-"],
            cwd=dest, env=cenv)
        spent += time.perf_counter() - t
    return spent, len(part)


def reconstruct_times(pvc_dir: Path, source: Path, samples: int, seed: int, env: dict):
    """Cold-cache pvc reads of random versions, and warm `git cat-file --batch` reads of the
    same contents."""
    from promptvc.repo import Repo

    repo = Repo(pvc_dir)
    rnd = random.Random(seed)
    commits = repo.log()
    picked: list[str] = []
    for c in rnd.sample(commits, min(samples * 2, len(commits))):
        ids = [ch.version_id for ch in repo.changes(c.id) if ch.version_id]
        if ids:
            picked.append(rnd.choice(ids))
        if len(picked) >= samples:
            break
    chains = []
    pvc_t = []
    blobs = []
    for vid in picked:
        repo.versions._cache.clear()  # cold: rebuild the chain from its snapshot
        t = time.perf_counter()
        data = repo.read_version(vid)
        pvc_t.append(time.perf_counter() - t)
        blobs.append(hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        row = repo.store.get_version_row(vid)
        chains.append(row.chain_len if row else 0)
    repo.close()
    proc = subprocess.Popen(["git", "-C", str(source), "cat-file", "--batch"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    git_t = []
    for b in blobs:
        t = time.perf_counter()
        proc.stdin.write(b.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3:
            raise SystemExit(f"git cat-file: blob {b} not found in {source}")
        proc.stdout.read(int(header[2]) + 1)
        git_t.append(time.perf_counter() - t)
    proc.stdin.close()
    proc.wait()
    return pvc_t, git_t, chains


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--git-repo", type=Path, help="benchmark this git repository's history "
                    "(HEAD, first parent) instead of a generated one")
    ap.add_argument("--files", type=int, default=100, help="generated files (default 100)")
    ap.add_argument("--versions", type=int, default=1000,
                    help="generated versions per file (default 1000)")
    ap.add_argument("--files-per-commit", type=int, default=1,
                    help="file versions per generated commit (default 1)")
    ap.add_argument("--runs", type=int, default=5, help="runs per CLI timing (median)")
    ap.add_argument("--replay-sample", type=int, default=500,
                    help="commits replayed with git add + git commit, then extrapolated")
    ap.add_argument("--reconstruct-samples", type=int, default=1000)
    ap.add_argument("--no-aggressive", action="store_true", help="skip `git gc --aggressive`")
    ap.add_argument("--no-loose", action="store_true", help="skip unpacking to loose objects")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="work here and keep everything")
    ap.add_argument("--markdown", type=Path, help="also write the markdown table to this file")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="pvc-vs-git-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = bench_env(home)
    os.environ.update({k: env[k] for k in ("PVC_AUTHOR", "RUST_LOG")})
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    try:
        # 1. the git history
        if args.git_repo:
            source = args.git_repo.resolve()
            what = f"git repository {source}"
        else:
            source = work / "source"
            if source.exists():
                shutil.rmtree(source)
            log(f"generating {args.files} files x {args.versions} versions with git fast-import")
            t = time.perf_counter()
            generate(source, args.files, args.versions, args.files_per_commit, args.seed, env)
            log(f"  done in {fmt_s(time.perf_counter() - t)}")
            what = (f"generated: {args.files} files x {args.versions} versions, "
                    f"{args.files_per_commit} per commit (seed {args.seed})")
        from promptvc.gitio import read_history

        history = read_history(source, "HEAD")
        ncommits = len(history)
        counts: dict[bytes, int] = {}
        for c in history:
            for ch in c.changes:
                counts[ch.path] = counts.get(ch.path, 0) + 1
        log(f"history: {ncommits} commits")

        # 2. pvc import (CLI, wall time), and the idempotent second run
        pvc_dir = work / "pvc"
        if pvc_dir.exists():
            shutil.rmtree(pvc_dir)
        pvc_dir.mkdir()
        run(pvc_cmd() + ["init"], cwd=pvc_dir, env=env)
        log("pvc import git ...")
        t = time.perf_counter()
        run(pvc_import_cmd() + ["import", "git", str(source)], cwd=pvc_dir, env=env)
        import_s = time.perf_counter() - t
        t = time.perf_counter()
        again = run(pvc_import_cmd() + ["import", "git", str(source)], cwd=pvc_dir, env=env)
        again_s = time.perf_counter() - t
        assert again.stdout.startswith(b"Already up to date"), again.stdout
        log(f"  {fmt_s(import_s)}; second run {fmt_s(again_s)}")

        log("pvc export git ...")
        t = time.perf_counter()
        run(pvc_import_cmd() + ["export", "git", str(work / "exported")], cwd=pvc_dir, env=env)
        export_s = time.perf_counter() - t
        shutil.rmtree(work / "exported")
        log(f"  {fmt_s(export_s)}")

        # 3. git add + git commit per version, on a sample
        sample = min(args.replay_sample, ncommits)
        log(f"git add + git commit replay of {sample} commits ...")
        replay_dir = work / "replay"
        if replay_dir.exists():
            shutil.rmtree(replay_dir)
        spent, replayed = replay_into_git(source, replay_dir, sample, env, history)
        replay_total = spent / max(replayed, 1) * ncommits
        exact = replayed == ncommits
        rows.append(("import the history", fmt_s(import_s),
                     fmt_s(replay_total) + ("" if exact else " (extrapolated)"),
                     "pvc import git vs one git add + git commit per commit"
                     + ("" if exact else f"; git timed on the first {replayed} commits")))
        rows.append(("import again (nothing new)", fmt_s(again_s), "-", "idempotent re-run"))
        rows.append(("export the history to git", fmt_s(export_s), "-",
                     "pvc export git: one git fast-import stream, then git reset --hard"))

        # 4. storage
        from promptvc.repo import Repo

        repo = Repo(pvc_dir)
        totals = repo.store.storage_totals()
        repo.close()
        db_bytes = sum(p.stat().st_size for p in (pvc_dir / ".pvc").glob("pvc.db*"))
        full = totals["full"]
        rows.append(("every version in full", fmt_bytes(full), fmt_bytes(full),
                     f"{totals['versions']} distinct file versions, uncompressed"))
        rows.append(("pvc version data / database", f"{fmt_bytes(totals['stored'])} / "
                     f"{fmt_bytes(db_bytes)}", "-",
                     f"data is {totals['stored'] / max(full, 1):.1%} of full; db includes "
                     "trees, commits, indexes"))
        git_objects = source / ".git" / "objects" if (source / ".git").is_dir() else source / "objects"
        rows.append(("git as the bench wrote it (fast-import)" if not args.git_repo
                     else "git as found", "-", fmt_bytes(du(git_objects)),
                     "du -sb .git/objects" + ("" if args.git_repo else
                                              "; fast-import deltas against the previous blob only")))
        if not args.no_loose:
            log("unpacking into loose objects ...")
            loose = work / "loose"
            if loose.exists():
                shutil.rmtree(loose)
            run(["git", "clone", "-q", "--no-local", "--bare", str(source), str(work / "bare")],
                env=env)
            run(["git", "init", "-q", "--bare", str(loose)], env=env)
            for pack in (work / "bare" / "objects" / "pack").glob("*.pack"):
                with open(pack, "rb") as fh:
                    subprocess.run(["git", "-C", str(loose), "unpack-objects", "-q"], stdin=fh,
                                   env=env, check=True)
            shutil.rmtree(work / "bare")
            objs = loose / "objects"
            rows.append(("git loose objects (before gc)", "-",
                         f"{fmt_bytes(du(objs))} ({fmt_bytes(du(objs, apparent=False))} on disk)",
                         "what one git commit per version leaves before gc: du -sb / du -sk"))
            shutil.rmtree(loose)
        log("git gc ...")
        packed = work / "packed"
        if packed.exists():
            shutil.rmtree(packed)
        run(["git", "clone", "-q", "--no-local", "--bare", str(source), str(packed)], env=env)
        # `git gc` of loose objects searches deltas afresh (window 10, depth 50); a clone of
        # an existing pack would only reuse that pack's deltas, so recompute them (-f)
        t = time.perf_counter()
        run(["git", "-C", str(packed), "repack", "-q", "-a", "-d", "-f"], env=env)
        run(["git", "-C", str(packed), "gc", "-q", "--prune=now"], env=env)
        rows.append(("git gc", "-", fmt_bytes(du(packed / "objects")),
                     "du after `git repack -a -d -f` + `git gc`: what gc makes of loose "
                     f"objects ({fmt_s(time.perf_counter() - t)})"))
        if not args.no_aggressive:
            log("git gc --aggressive ...")
            aggr = work / "aggressive"
            if aggr.exists():
                shutil.rmtree(aggr)
            shutil.copytree(packed, aggr)
            t = time.perf_counter()
            run(["git", "-C", str(aggr), "gc", "-q", "--aggressive", "--prune=now"], env=env)
            rows.append(("git gc --aggressive", "-", fmt_bytes(du(aggr / "objects")),
                         f"du after `git gc --aggressive` ({fmt_s(time.perf_counter() - t)})"))
            shutil.rmtree(aggr)

        # 5. CLI wall time (git on the gc'ed copy: a typical packed repository)
        path_b = max(counts, key=lambda p: (counts[p], p))
        path = os.fsdecode(path_b)
        shas = [c.sha for c in history]
        oldest = next(c.sha for c in history if any(ch.path == path_b and ch.status in "AMRC"
                                                   for ch in c.changes))
        mapping = {}
        for line in (pvc_dir / ".pvc" / "git-import-map").read_text().splitlines():
            g, p = line.split()
            mapping[g] = p
        p_first, p_last = mapping[oldest], mapping[shas[-1]]
        log(f"CLI timings on {path} ({counts[path_b]} versions), {args.runs} runs each ...")
        pvc = pvc_cmd()
        git_ = ["git", "--no-pager"]
        cases = [
            ("log", pvc + ["log"], git_ + ["log"]),
            ("log -- PATH", pvc + ["log", "--", path], git_ + ["log", "--", path]),
            ("show REV:PATH (oldest version)", pvc + ["show", f"{p_first}:{path}"],
             git_ + ["show", f"{oldest}:{path}"]),
            ("diff FIRST LAST -- PATH", pvc + ["diff", p_first, p_last, "--", path],
             git_ + ["diff", oldest, shas[-1], "--", path]),
        ]
        for label, pc, gc in cases:
            rows.append((f"`{label}`", fmt_s(median_wall(pc, pvc_dir, env, args.runs)),
                         fmt_s(median_wall(gc, packed, env, args.runs)), "median wall time"))
        click_prog = work / "hello_click.py"
        click_prog.write_text("import click\n\n@click.command()\ndef hello():\n"
                              "    click.echo('hello')\n\nhello()\n")
        rows.append(("floor: minimal click program / `git --version`",
                     fmt_s(median_wall([sys.executable, str(click_prog)], work, env, args.runs)),
                     fmt_s(median_wall(["git", "--version"], work, env, args.runs)),
                     "process start-up alone"))

        # 6. reconstruct
        log("reconstruct timings ...")
        pvc_t, git_t, chains = reconstruct_times(pvc_dir, packed, args.reconstruct_samples,
                                                 args.seed, env)
        rows.append(("read a random version, p50", fmt_s(pct(pvc_t, 50)), fmt_s(pct(git_t, 50)),
                     f"pvc in-process, cold cache ({len(pvc_t)} versions, chain length "
                     f"median {statistics.median(chains):.0f}, max {max(chains)}); git: warm "
                     "`cat-file --batch`"))
        rows.append(("read a random version, p99", fmt_s(pct(pvc_t, 99)), fmt_s(pct(git_t, 99)),
                     ""))
        shutil.rmtree(packed)
        notes.append(f"History: {what}; {ncommits} commits, {len(counts)} paths.")
        notes.append(f"PATH = {path}; FIRST = the commit that added it; LAST = the head. "
                     "`git log -- PATH` does not follow renames, `pvc log -- PATH` does.")
        if not exact:
            notes.append(f"The git replay (`git add -A` + `git commit` per commit) was timed "
                         f"on the first {replayed} of {ncommits} commits ({fmt_s(spent)}) and "
                         "extrapolated linearly.")
        notes.append(f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
                     f"{run(['git', '--version']).stdout.decode().strip()}.")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    header = ("measure", "pvc", "git", "notes")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    print()
    for r in [header] + rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print()
    for n in notes:
        print(n)
    md = ["| measure | pvc | git | notes |", "|---|---:|---:|---|"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    md += [""] + [f"- {n}" for n in notes]
    text = "\n".join(md) + "\n"
    print("\nMarkdown:\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
