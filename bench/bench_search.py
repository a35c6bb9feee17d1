"""Search beside git: index build time, query latency of grep / log -S / log -G / search,
and recall@5 on the labelled set.

For each history (a generated one of --versions prompt versions, one file version per
commit, and optionally a real one given with --git-repo: its .md/.mdx first-parent history):

- import the history with `pvc import git` (its time includes the text index);
- index build, in-process: the full-text index from scratch, and vectors with the local
  wordllama model when installed (--vector-limit caps how many are embedded);
- CLI wall time p50/p99 (--runs runs each) of `pvc grep -n WORD` vs `git grep -n WORD`,
  `pvc grep -n WORD REV` vs `git grep -n WORD REV`, `pvc log --oneline -S STRING` vs
  `git log --first-parent --oneline -S STRING`, `pvc log -G` vs `git log -G`, and
  `pvc search QUERY`;
- in-process query latency p50/p99 of `search` (the ranked query itself, as an
  application calling PromptSource.search or a warm process sees it), text-only and
  hybrid, HEAD scope and --all-versions;
- recall@5 of the labelled set in tests/test_search.py, text-only and hybrid.

    .venv/bin/python bench/bench_search.py                            # 100,000 versions
    .venv/bin/python bench/bench_search.py --versions 5000 --git-repo /tmp/peg
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_vs_git import bench_env, log, pvc_cmd  # noqa: E402
from benchenv import prepare  # noqa: E402
from promptgen import document, edit  # noqa: E402


def env_for(home: Path) -> dict[str, str]:
    env = bench_env(home)
    env["LC_ALL"] = "C.UTF-8"  # git grep and pvc grep read the same UTF-8 text
    return env


def run(cmd, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
    if check and p.returncode not in (0, 1):
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{p.stderr.decode()[-2000:]}")
    return p


def generate(dest: Path, versions: int, files: int, seed: int, env: dict) -> int:
    """VERSIONS prompt versions of 400-3,000 bytes over FILES files, one per commit."""
    rnd = random.Random(seed)
    run(["git", "init", "-q", "-b", "main", str(dest)], env=env)
    proc = subprocess.Popen(["git", "-C", str(dest), "fast-import", "--quiet"], env=env,
                            stdin=subprocess.PIPE)
    out = proc.stdin
    assert out is not None
    texts: list[str | None] = [None] * files
    epoch = 1_704_067_200
    for n in range(versions):
        f = n % files
        if texts[f] is None:
            texts[f] = document(rnd, rnd.randint(400, 3_000))
        else:
            texts[f] = edit(rnd, texts[f])
        data = texts[f].encode()
        when = b"%d +0000" % (epoch + n * 61)
        msg = f"edit p{f:04d} ({n})\n".encode()
        out.write(b"commit refs/heads/main\nauthor Bench <b@example.com> " + when
                  + b"\ncommitter Bench <b@example.com> " + when + b"\ndata %d\n" % len(msg) + msg)
        out.write(b"M 100644 inline prompts/p%04d.md\n" % f + b"data %d\n" % len(data) + data + b"\n\n")
        if (n + 1) % 20_000 == 0:
            log(f"  generated {n + 1} versions")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    run(["git", "-C", str(dest), "reset", "-q", "--hard", "main"], env=env)
    return versions


def wall(cmd, cwd, env, runs: int) -> tuple[float, float, int, float]:
    """p50, p99 wall seconds of RUNS runs (after one warm-up), the output line count, and
    the p50 CPU seconds (user + system) of the child: on a shared, loaded machine the CPU
    time is the steadier figure."""
    import resource

    first = run(cmd, cwd=cwd, env=env)
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        run(cmd, cwd=cwd, env=env)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return pct(times, 50), pct(times, 99), len(first.stdout.splitlines()), pct(cpu, 50)


def fmt(v) -> str:
    return f"{ms(v[0])} / {ms(v[1])} (cpu {ms(v[3])})"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))]


def ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.1f} s"


def in_process(root: Path, queries: list[str], runs: int, embedder, vector_limit: int | None):
    """Index build times and ranked-query latencies measured inside one process."""
    from promptvc import search as S
    from promptvc.repo import Repo

    os.chdir(root)
    repo = Repo.open()
    rows = {}
    ix = repo.store.search_index()
    with repo.store.transaction():
        ix.clear_text()
    t = time.perf_counter()
    n = S.index_text(repo)
    rows["text index build (history)"] = (f"{time.perf_counter() - t:.2f} s", f"{n} versions")
    t = time.perf_counter()
    S.sync_trees(repo)
    docs = len(ix.tree_docs())
    rows["text index build (branch trees)"] = (f"{time.perf_counter() - t:.2f} s",
                                               f"{docs} versions")
    if embedder is not None:
        for space, _model, _dim in ix.spaces():
            with repo.store.transaction():
                ix.drop_space(space)
        t = time.perf_counter()
        done = 0
        budget = vector_limit or 10 ** 12
        space = S._space(repo, ix, embedder)
        while done < budget:
            rows_ = ix.versions_without_vectors(space, min(256, budget - done))
            if not rows_:
                break
            batch = [vid for _, vid in rows_]
            texts = [repo.versions.get(v).decode("utf-8", "replace") for v in batch]
            blobs = embedder.embed(texts)
            with repo.store.transaction():
                ix.add_vectors(space, list(zip(batch, blobs)))
                ix.set_vector_mark(space, rows_[-1][0])
            done += len(batch)
            if done % 5120 < 256:
                log(f"  embedded {done}")
        dt = time.perf_counter() - t
        rows["vector index build"] = (f"{dt:.2f} s", f"{done} vectors, {dt / max(done, 1) * 1000:.2f} ms each")
    modes = [("text", None)] + ([("hybrid", embedder)] if embedder is not None else [])
    for label, emb in modes:
        for scope in ("HEAD", "all versions"):
            times, cpu = [], []
            for i in range(runs):
                q = queries[i % len(queries)]
                t, c = time.perf_counter(), time.process_time()
                S.search(repo, q, embedder=emb, text_only=emb is None,
                         all_versions=scope != "HEAD", catch_up=False)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            rows[f"search ({label}, {scope}) in-process"] = (
                f"p50 {ms(pct(times, 50))} / p99 {ms(pct(times, 99))}",
                f"cpu p50 {ms(pct(cpu, 50))} / p99 {ms(pct(cpu, 99))}")
    size = (root / ".pvc" / "pvc.db").stat().st_size
    rows["database size"] = (f"{size / 2**20:.1f} MB", "")
    repo.close()
    return rows


def commit_cost(root: Path, runs: int) -> list[tuple[str, str, str]]:
    """In-process time of a one-file commit (Repo.commit_files, as the daemon and importers
    commit) with the search index's text hook, and with the hook replaced by a no-op."""
    import promptvc.search as S
    from promptvc.repo import Repo

    here = os.getcwd()
    os.chdir(root)
    repo = Repo.open()
    real = S.after_write
    out = []
    try:
        path = sorted(repo.tree(repo.head()))[0]
        base = repo.read("HEAD", path)
        for label, hook in (("with text index", real), ("without (hook off)", lambda *a, **k: None)):
            S.after_write = hook
            times = []
            for i in range(runs):
                data = base + f"\nbench edit {label} {i} {time.time_ns()}\n".encode()
                t = time.perf_counter()
                repo.commit_files({path: data}, f"bench {i}", author="Bench <b@example.com>")
                times.append(time.perf_counter() - t)
            out.append((f"commit one file, {label}", f"p50 {ms(pct(times, 50))}",
                        f"p99 {ms(pct(times, 99))}"))
    finally:
        S.after_write = real
        repo.close()
        os.chdir(here)
    return out


def bench_history(name: str, git_dir: Path, work: Path, env: dict, args, embedder, words, strings,
                  queries) -> list[tuple[str, str, str]]:
    pvc = pvc_cmd()
    dst = work / f"pvc-{name}"
    dst.mkdir()
    run([*pvc, "init"], cwd=dst, env=env)
    t = time.perf_counter()
    p = run([*pvc, "import", "git", str(git_dir)], cwd=dst, env=env)
    if p.returncode != 0:
        raise SystemExit(p.stderr.decode())
    out: list[tuple[str, str, str]] = [(f"{name}: pvc import git (incl. text index)",
                                        f"{time.perf_counter() - t:.1f} s", "")]
    commits = int(run(["git", "rev-list", "--first-parent", "--count", "HEAD"], cwd=git_dir,
                      env=env).stdout)
    rev = f"HEAD~{min(10, commits - 1)}"
    for w in words:
        g = wall(["git", "grep", "-n", w], git_dir, env, args.runs)
        v = wall([*pvc, "grep", "-n", w], dst, env, args.runs)
        out.append((f"{name}: grep -n {w!r} (worktree)", f"pvc {fmt(v)}",
                    f"git {fmt(g)}; {v[2]} vs {g[2]} lines"))
        g = wall(["git", "grep", "-n", w, rev], git_dir, env, args.runs)
        v = wall([*pvc, "grep", "-n", w, rev], dst, env, args.runs)
        out.append((f"{name}: grep -n {w!r} {rev}", f"pvc {fmt(v)}",
                    f"git {fmt(g)}; {v[2]} vs {g[2]} lines"))
    for s in strings:
        runs = max(3, args.runs // 4)
        g = wall(["git", "log", "--first-parent", "--oneline", "-S", s], git_dir, env, runs)
        v = wall([*pvc, "log", "--oneline", "-S", s], dst, env, runs)
        out.append((f"{name}: log -S {s!r}", f"pvc {fmt(v)}",
                    f"git {fmt(g)}; {v[2]} vs {g[2]} commits"))
    s = strings[0]
    g = wall(["git", "log", "--first-parent", "--oneline", "-G", s], git_dir, env, 3)
    v = wall([*pvc, "log", "--oneline", "-G", s], dst, env, 3)
    out.append((f"{name}: log -G {s!r}", f"pvc {fmt(v)}",
                f"git {fmt(g)}; {v[2]} vs {g[2]} commits"))
    v = wall([*pvc, "search", "--text-only", queries[0]], dst, env, args.runs)
    out.append((f"{name}: pvc search --text-only (CLI)", fmt(v), ""))
    v = wall([*pvc, "--version"], dst, env, args.runs)
    out.append((f"{name}: pvc --version (CLI floor)", fmt(v), ""))
    limit = args.vector_limit if name.startswith("generated") else None
    here = os.getcwd()
    try:
        for k, (a, b) in in_process(dst, queries, args.runs * 2, embedder, limit).items():
            out.append((f"{name}: {k}", a, b))
    finally:
        os.chdir(here)
    out += [(f"{name}: {a}", b, c) for a, b, c in commit_cost(dst, args.runs)]
    return out


def recall(embedder) -> list[tuple[str, str, str]]:
    """recall@5 on the labelled set of tests/test_search.py."""
    from promptvc import search as S
    from promptvc.repo import Repo
    from tests.test_search import LABELLED, QUERIES

    semantic = {"money back": "support/refunds.md", "parcel arrival": "support/shipping.md",
                "see a physician": "safety/medical.md", "attorney advice": "safety/legal.md"}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo.init(tmp)
        try:
            repo.commit_files({p: t.encode() for p, t in LABELLED.items()}, "labelled",
                              author="Bench <b@example.com>")
            out = []
            sets = [("keyword queries", QUERIES), ("paraphrased queries", semantic)]
            for label, emb in [("text", None)] + ([("hybrid", embedder)] if embedder else []):
                for name, qs in sets:
                    hit = 0
                    for q, want in qs.items():
                        res = S.search(repo, q, k=5, embedder=emb, text_only=emb is None)
                        hit += want in [h.path for h in res.hits]
                    out.append((f"recall@5 {label}, {name}", f"{hit / len(qs):.2f}",
                                f"{hit}/{len(qs)}"))
            return out
        finally:
            repo.close()
            os.chdir(here)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--git-repo", type=Path, help="a real history (its .md/.mdx files)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-vectors", action="store_true")
    ap.add_argument("--vector-limit", type=int, default=None,
                    help="embed at most this many versions of the generated history")
    ap.add_argument("--skip-generated", action="store_true")
    ap.add_argument("--commit-cost", type=Path, metavar="PVC_REPO",
                    help="only measure one-file commits in an existing pvc repository (it "
                         "gets new commits)")
    args = ap.parse_args()
    prepare()
    if args.commit_cost:
        for a, b, c in commit_cost(args.commit_cost.resolve(), args.runs):
            print(f"{a:<40} {b:<16} {c}")
        return
    embedder = None
    if not args.no_vectors:
        try:
            from promptvc.embedders import WordLlamaEmbedder

            embedder = WordLlamaEmbedder()
        except Exception as exc:  # noqa: BLE001
            log(f"no vectors: {getattr(exc, 'message', exc)}")
    rows: list[tuple[str, str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="pvc-bench-search-"))
    env = env_for(work / "home")
    (work / "home").mkdir()
    try:
        if args.git_repo:
            real = work / "real"
            run(["git", "init", "-q", "-b", "main", str(real)], env=env)
            exp = subprocess.Popen(["git", "-C", str(args.git_repo), "fast-export", "HEAD", "--",
                                    "*.md", "*.mdx"], stdout=subprocess.PIPE, env=env)
            subprocess.run(["git", "-C", str(real), "fast-import", "--quiet"], stdin=exp.stdout,
                           env=env, check=True)
            exp.wait()
            run(["git", "-C", str(real), "reset", "-q", "--hard", "main"], env=env)
            log("real history: importing and measuring")
            rows += bench_history("real", real, work, env, args, embedder,
                                  ["prompt", "chain-of-thought"], ["few-shot", "JSON"],
                                  ["chain of thought reasoning", "json output format",
                                   "image generation", "prompt injection attacks"])
        if not args.skip_generated:
            gen = work / "gen"
            log(f"generating {args.versions} versions")
            generate(gen, args.versions, args.files, args.seed, env)
            log("generated history: importing and measuring")
            rows += bench_history(f"generated {args.versions:,}", gen, work, env, args, embedder,
                                  ["politely", "schema"], ["frustrated", "valid json"],
                                  ["answer the customer politely", "valid json schema",
                                   "cite the source document", "translate product names"])
        rows += recall(embedder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print()
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<24} {c}")
    print("\n| measure | value | beside |\n|---|---:|---|")
    for a, b, c in rows:
        print(f"| {a} | {b} | {c} |")
    print(f"\n(p50 / p99 wall times; {statistics.__name__} of {args.runs} runs; "
          f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
