"""Daemon latency benchmark (issue: sync daemon).

Two clones of one repository on a real sqld (loopback), a daemon in each. Saves a prompt
file in clone A N times and prints p50/p95 latency from the save to (1) the local commit in
A and (2) the content appearing in clone B's working file.

    .venv/bin/python bench/bench_daemon.py [--saves 30] [--interval 2] [--debounce 0.3]   (the defaults)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PVC_AUTHOR", "Bench <bench@example.com>")

from promptvc.remote.sqld import SqldServer, find_sqld  # noqa: E402


def pvc(cwd: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--saves", type=int, default=30)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--debounce", type=float, default=0.3)
    args = ap.parse_args()
    binary = find_sqld()
    if not binary:
        raise SystemExit("no sqld found: run scripts/install-sqld first")
    tmp = Path(tempfile.mkdtemp(prefix="pvc-bench-daemon-"))
    srv = SqldServer(binary).start(tmp / "srv" / "db")
    procs = []
    try:
        url = f"http://localhost:{srv.http_port}"
        a = tmp / "a"
        a.mkdir()
        pvc(a, "init")
        (a / "p.md").write_text("start\n")
        pvc(a, "add", "p.md")
        pvc(a, "commit", "-m", "start")
        pvc(a, "remote", "add", "origin", url)
        pvc(a, "push")
        pvc(tmp, "clone", url, "b")
        b = tmp / "b"
        for root in (a, b):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "promptvc", "daemon", "run", "--interval",
                 str(args.interval), "--debounce", str(args.debounce)],
                cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for root in (a, b):
            while True:
                try:
                    if json.loads((root / ".pvc" / "daemon.json").read_text())["state"] == "running":
                        break
                except (FileNotFoundError, json.JSONDecodeError, KeyError):
                    pass
                time.sleep(0.05)
        to_commit, to_other = [], []
        from promptvc.repo import Repo

        for i in range(args.saves):
            content = f"save {i}\n" + "Be concise and cite sources.\n" * (i % 5 + 1)
            t0 = time.perf_counter()
            (a / "p.md").write_text(content)
            committed = arrived = None
            while committed is None or arrived is None:
                now = time.perf_counter()
                if committed is None:
                    r = Repo.open(a)
                    try:
                        if r.read("HEAD", "p.md").decode() == content:
                            committed = now - t0
                    finally:
                        r.close()
                if arrived is None and (b / "p.md").read_text() == content:
                    arrived = now - t0
                if now - t0 > 30:
                    raise SystemExit(f"save {i} did not propagate within 30 s")
                time.sleep(0.01)
            to_commit.append(committed)
            to_other.append(arrived)
            time.sleep(0.2)
        print(f"\n## pvc daemon latency ({args.saves} saves; debounce {args.debounce}s, "
              f"pull interval {args.interval}s; sqld on loopback)\n")
        print("| measure | p50 | p95 | target (p95) |")
        print("| --- | --- | --- | --- |")
        print(f"| save -> local commit | {pct(to_commit, 50) * 1000:.0f} ms | "
              f"{pct(to_commit, 95) * 1000:.0f} ms | <= 1 s |")
        print(f"| save -> other clone's working file | {pct(to_other, 50) * 1000:.0f} ms | "
              f"{pct(to_other, 95) * 1000:.0f} ms | <= 3 s |")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
