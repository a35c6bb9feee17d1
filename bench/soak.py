"""Soak test: two daemons, a writer, and repeated primary outages, for a bounded time.

    scripts/soak [--minutes 10] [--seed 1]

Two clones of one repository on a real sqld, a `pvc daemon run` in each; a writer saves
prompt files in both clones at random moments; the primary is stopped for a few seconds
again and again. At the end everything is allowed to settle, and the script prints commits
made, commits on the primary, commits lost (must be 0: every commit either clone ever had
is on the primary), whether the last saved content of every file arrived, and fsck results.
Exits 1 if anything was lost or any fsck failed. Traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PVC_AUTHOR", "Soak <soak@example.com>")
os.environ["RUST_LOG"] = "off"

from promptvc.remote.hrana import HranaClient  # noqa: E402
from promptvc.remote.sqld import SqldServer, find_sqld  # noqa: E402


def pvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    if check and p.returncode != 0:
        raise SystemExit(f"pvc {' '.join(args)} failed in {cwd}: {p.stderr}")
    return p


def state(root: Path) -> dict:
    try:
        return json.loads((root / ".pvc" / "daemon.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def all_commits(root: Path) -> set[str]:
    out = pvc(root, "log", "--json", "main", check=False).stdout
    try:
        return {c["id"] for c in json.loads(out)}
    except json.JSONDecodeError:
        return set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    binary = find_sqld()
    if not binary:
        raise SystemExit("no sqld found: run scripts/install-sqld first")
    tmp = Path(tempfile.mkdtemp(prefix="pvc-soak-"))
    srv = SqldServer(binary).start(tmp / "srv" / "db")
    daemons: list[subprocess.Popen] = []
    try:
        url = f"http://localhost:{srv.http_port}"
        a = tmp / "a"
        a.mkdir()
        pvc(a, "init")
        (a / "shared.md").write_text("start\n")
        pvc(a, "add", "shared.md")
        pvc(a, "commit", "-m", "start")
        pvc(a, "remote", "add", "origin", url)
        pvc(a, "push")
        pvc(tmp, "clone", url, "b")
        b = tmp / "b"
        for root in (a, b):
            pvc(root, "config", "remote.origin.timeout", "3")
            pvc(root, "config", "remote.origin.backoff", "0.2")
            daemons.append(subprocess.Popen(
                [sys.executable, "-m", "promptvc", "daemon", "run", "--interval", "1"],
                cwd=root, stdout=open(root / "daemon.out", "w"), stderr=subprocess.STDOUT))
        time.sleep(2)
        last: dict[tuple[str, str], str] = {}
        ever: set[str] = set()
        outages = saves = 0
        end = time.monotonic() + args.minutes * 60
        next_outage = time.monotonic() + rnd.uniform(10, 30)
        print(f"soaking for {args.minutes:g} min in {tmp} ...", file=sys.stderr)
        while time.monotonic() < end:
            root = rnd.choice([a, b])
            name = f"{root.name}-{rnd.randrange(3)}.md"  # each clone edits its own files
            text = f"{root.name} save {saves} {rnd.random()}\n" * rnd.randint(1, 20)
            (root / name).write_text(text)
            last[(root.name, name)] = text
            saves += 1
            time.sleep(rnd.uniform(0.05, 1.5))
            if time.monotonic() >= next_outage:
                srv.stop()
                outages += 1
                down = rnd.uniform(2, 10)
                t = time.monotonic()
                while time.monotonic() - t < down:  # keep saving while the primary is down
                    root = rnd.choice([a, b])
                    name = f"{root.name}-{rnd.randrange(3)}.md"
                    text = f"{root.name} offline save {saves}\n"
                    (root / name).write_text(text)
                    last[(root.name, name)] = text
                    saves += 1
                    time.sleep(rnd.uniform(0.2, 1.0))
                srv.start(srv.db_path, host=srv.host, http_port=srv.http_port,
                          admin_port=srv.admin_port, grpc_port=srv.grpc_port)
                next_outage = time.monotonic() + rnd.uniform(15, 40)
            for root in (a, b):
                ever |= all_commits(root) if rnd.random() < 0.05 else set()
        # settle: both daemons pushed everything and pulled each other's work
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sa, sb = state(a), state(b)
            if (sa.get("pending_commits") == 0 and sb.get("pending_commits") == 0
                    and all((root / name).exists() and (root / name).read_text() == text
                            for (rn, name), text in last.items()
                            for root in (a, b))):
                break
            time.sleep(1)
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            d.wait(30)
        made = sum(state(r).get("commits_made", 0) for r in (a, b))
        ever |= all_commits(a) | all_commits(b)
        with HranaClient(url) as c:
            remote = {r[0] for r in c.execute("SELECT id FROM commits").rows}
        lost = ever - remote
        arrived = sum(1 for (rn, name), text in last.items()
                      if all((root / name).exists() and (root / name).read_text() == text
                             for root in (a, b)))
        fsck = {r.name: pvc(r, "fsck", check=False).returncode == 0 for r in (a, b)}
        print(f"\n## soak: {args.minutes:g} min, seed {args.seed}\n")
        print("| measure | value |")
        print("| --- | --- |")
        print(f"| saves | {saves} |")
        print(f"| primary outages | {outages} |")
        print(f"| commits made by the daemons | {made} |")
        print(f"| commits seen in either clone | {len(ever)} |")
        print(f"| commits on the primary | {len(remote)} |")
        print(f"| commits lost | {len(lost)} |")
        print(f"| files whose last save reached both clones | {arrived}/{len(last)} |")
        print(f"| fsck clean | a: {fsck['a']}, b: {fsck['b']} |")
        ok = not lost and all(fsck.values()) and arrived == len(last)
        print("\nresult: " + ("OK" if ok else "FAILED"))
        sys.exit(0 if ok else 1)
    finally:
        for d in daemons:
            if d.poll() is None:
                d.kill()
        srv.stop()
        if os.environ.get("PVC_SOAK_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
