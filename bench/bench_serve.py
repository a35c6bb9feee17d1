"""Serving benchmark (issue: serving prompts and A/B experiments).

Prints p50/p99 of `PromptSource.get` (local replica) beside an uncached read of the same
prompt over HTTP from the same sqld, and the time from publishing a promotion to an
application seeing the new content.

    .venv/bin/python bench/bench_serve.py [--reads 20000] [--interval 2]
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
os.environ["RUST_LOG"] = "off"

from promptgen import document, edit  # noqa: E402

from promptvc import delta  # noqa: E402
from promptvc.objects import parse_manifest, sha256  # noqa: E402
from promptvc.remote.hrana import HranaClient  # noqa: E402
from promptvc.remote.sqld import SqldServer, find_sqld  # noqa: E402
from promptvc.serve import PromptSource  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def pvc(cwd: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


CHAIN = """WITH RECURSIVE chain(vid, depth) AS (
    SELECT ?, 0 UNION ALL
    SELECT v.parent_version_id, chain.depth + 1 FROM versions v JOIN chain ON v.id = chain.vid
    WHERE v.storage = 'diff')
  SELECT versions.storage, versions.codec, versions.data FROM chain
  JOIN versions ON versions.id = chain.vid ORDER BY chain.depth DESC"""


def http_read(client: HranaClient, ref: str, path: str) -> bytes:
    """An uncached read: two requests (tree, then the file), each rebuilding a diff chain."""
    import zlib

    def rebuild(rows) -> bytes:
        texts = [zlib.decompress(d) if c == "zlib" else bytes(d) for _, c, d in rows]
        return delta.apply_chain(texts[0], texts[1:])

    tree_rows = client.execute(
        CHAIN.replace("SELECT ?, 0", "SELECT (SELECT tree_id FROM commits WHERE id = "
                      "(SELECT target FROM refs WHERE name = ?)), 0"), (ref,)).rows
    vid = parse_manifest(rebuild(tree_rows))[path]
    data = rebuild(client.execute(CHAIN, (vid,)).rows)
    assert sha256(data) == vid
    return data


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--http-reads", type=int, default=500)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--promotions", type=int, default=5)
    args = ap.parse_args()
    binary = find_sqld()
    if not binary:
        raise SystemExit("no sqld found: run scripts/install-sqld first")
    tmp = Path(tempfile.mkdtemp(prefix="pvc-bench-serve-"))
    srv = SqldServer(binary).start(tmp / "srv" / "db")
    try:
        url = f"http://localhost:{srv.http_port}"
        repo = tmp / "repo"
        repo.mkdir()
        pvc(repo, "init")
        rnd = random.Random(5)
        (repo / "prompts").mkdir()
        text = document(rnd, 6000)
        for i in range(20):
            (repo / "prompts" / f"p{i}.md").write_text(document(rnd, rnd.randint(2000, 10000)))
        (repo / "prompts" / "support.md").write_text(text)
        pvc(repo, "add", "prompts")
        pvc(repo, "commit", "-m", "first")
        for i in range(30):  # some history, so reads rebuild a diff chain
            text = edit(rnd, text)
            (repo / "prompts" / "support.md").write_text(text)
            pvc(repo, "commit", "-m", f"edit {i}")
        pvc(repo, "tag", "production")
        pvc(repo, "remote", "add", "origin", url)
        pvc(repo, "push", "--tags")

        src = PromptSource.remote(url, cache_dir=tmp / "cache", interval=args.interval)
        path = "prompts/support.md"
        src.get(path)  # warm
        gets = []
        for _ in range(args.reads):
            t = time.perf_counter()
            src.get(path)
            gets.append((time.perf_counter() - t) * 1000)
        client = HranaClient(url)
        https = []
        for _ in range(args.http_reads):
            t = time.perf_counter()
            http_read(client, "refs/tags/production", path)
            https.append((time.perf_counter() - t) * 1000)
        client.close()
        # promotion: move production to a new commit and publish it; wait for the app
        visible = []
        for i in range(args.promotions):
            text = edit(rnd, text) + f"\npromotion {i}\n"
            (repo / "prompts" / "support.md").write_text(text)
            pvc(repo, "commit", "-m", f"promote {i}")
            pvc(repo, "push")
            pvc(repo, "tag", "-f", "production", "HEAD")
            pvc(repo, "push", "--tags")
            t = time.perf_counter()
            while src.get(path).content != text:
                time.sleep(0.01)
                if time.perf_counter() - t > 30:
                    raise SystemExit("promotion not visible within 30 s")
            visible.append(time.perf_counter() - t)
        src.close()
        print(f"\n## serving benchmark (sqld on loopback; replica sync interval {args.interval}s)\n")
        print("| measure | p50 | p99 | target |")
        print("| --- | --- | --- | --- |")
        print(f"| `PromptSource.get` from the local replica ({args.reads} reads) | "
              f"{pct(gets, 50):.4f} ms | {pct(gets, 99):.4f} ms | p50 <= 0.1 ms |")
        print(f"| uncached read over HTTP from the same sqld (2 requests, {args.http_reads} reads) | "
              f"{pct(https, 50):.2f} ms | {pct(https, 99):.2f} ms | |")
        print(f"| promotion published -> application sees it ({args.promotions} promotions) | "
              f"{statistics.median(visible):.2f} s | {max(visible):.2f} s (max) | <= 5 s |")
        print("\nFor reference, Langfuse's own benchmark of an uncached fetch: p50 37 ms, p99 69 ms.")
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
