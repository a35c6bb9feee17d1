"""Remote benchmark: round trips and wall time of push and pull (issue: remote).

Pushes 1 and 100 commits from one clone and pulls them into another, on loopback and
through a loopback proxy that adds 25 ms each way, against a real sqld started here.

    .venv/bin/python bench/bench_remote.py [--delay-ms 25] [--files 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PVC_AUTHOR", "Bench <bench@example.com>")
os.environ["RUST_LOG"] = "off"

import random  # noqa: E402

from latency_proxy import LatencyProxy  # noqa: E402
from promptgen import document, edit  # noqa: E402

from promptvc.remote.remotes import add_remote, get_remote  # noqa: E402
from promptvc.remote.sqld import SqldServer, find_sqld  # noqa: E402
from promptvc.remote.clone import clone  # noqa: E402
from promptvc.remote.fetch import fetch, pull  # noqa: E402
from promptvc.remote.push import push  # noqa: E402
from promptvc.repo import Repo  # noqa: E402


def make_commits(repo: Repo, n: int, files: int, rnd: random.Random, texts: dict) -> None:
    for i in range(n):
        chosen = rnd.sample(sorted(texts), min(3, len(texts)))
        batch = {}
        for name in chosen:
            texts[name] = edit(rnd, texts[name])
            batch[name] = texts[name].encode()
        repo.commit_files(batch, f"edit {i}", author="Bench <bench@example.com>")


def scenario(binary: str, tmp: Path, delay_ms: float, files: int) -> list[tuple]:
    rows = []
    srv = SqldServer(binary).start(tmp / f"srv-{delay_ms}" / "db")
    proxy = LatencyProxy(srv.http_port, delay_ms / 1000).start()
    url = f"http://localhost:{proxy.port}"
    try:
        rnd = random.Random(3)
        a_dir = tmp / f"a-{delay_ms}"
        repo = Repo.init(a_dir)
        remote = add_remote(repo.config, "origin", url)
        texts = {f"prompts/p{i}.md": document(rnd, rnd.randint(1000, 8000)) for i in range(files)}
        repo.commit_files({k: v.encode() for k, v in texts.items()}, "initial",
                          author="Bench <bench@example.com>")
        push(repo, remote)
        b_repo, _, _ = clone(url, tmp / f"b-{delay_ms}")
        b_remote = get_remote(b_repo.config, "origin")
        for n in (1, 100):
            make_commits(repo, n, files, rnd, texts)
            proxy.reset()
            t = time.perf_counter()
            res = push(repo, remote)
            push_s = time.perf_counter() - t
            push_rt = proxy.round_trips
            proxy.reset()
            t = time.perf_counter()
            fr = pull(b_repo, b_remote)
            pull_s = time.perf_counter() - t
            pull_rt = proxy.round_trips
            assert b_repo.head() == repo.head(), "pull did not arrive"
            rows.append((delay_ms, n, res.commits, push_rt, push_s * 1000, fr.fetch.commits,
                         pull_rt, pull_s * 1000))
        # a no-op fetch
        proxy.reset()
        t = time.perf_counter()
        fetch(b_repo, b_remote)
        rows.append((delay_ms, 0, 0, None, None, 0, proxy.round_trips,
                     (time.perf_counter() - t) * 1000))
        repo.close()
        b_repo.close()
    finally:
        proxy.stop()
        srv.stop()
    return rows


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay-ms", type=float, default=25.0, help="added each way by the proxy")
    ap.add_argument("--files", type=int, default=10)
    args = ap.parse_args()
    binary = find_sqld()
    if not binary:
        raise SystemExit("no sqld found: run scripts/install-sqld first")
    tmp = Path(tempfile.mkdtemp(prefix="pvc-bench-remote-"))
    try:
        rows = scenario(binary, tmp, 0.0, args.files) + scenario(binary, tmp, args.delay_ms, args.files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n## pvc remote benchmark (sqld on loopback; proxy adds 0 or {args.delay_ms:g} ms "
          "each way)\n")
    print("| added delay each way | commits | push round trips | push wall | "
          "pull round trips | pull wall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for delay, n, pushed, prt, pms, pulled, lrt, lms in rows:
        if n == 0:
            print(f"| {delay:g} ms | no-op fetch | | | {lrt} | {lms:.0f} ms |")
            continue
        print(f"| {delay:g} ms | {n} | {prt} | {pms:.0f} ms | {lrt} | {lms:.0f} ms |")
    print("\nA round trip is one request/response exchange seen by the proxy. Pull = sync of "
          "the embedded replica (libsql, in a child process) + local import + merge.")


if __name__ == "__main__":
    main()
