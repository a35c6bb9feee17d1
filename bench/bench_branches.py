"""Branch-database benchmark (issue: branches as databases).

Builds a repository of COMMITS commits, pushes it to a real sqld with namespaces, then times
creating a branch database (fork + record + push), merging it back (fetch + merge + push)
and deleting it (database + replica files), over several rounds.

    .venv/bin/python bench/bench_branches.py [--commits 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PVC_AUTHOR", "Bench <bench@example.com>")
os.environ["RUST_LOG"] = "off"

from promptgen import document, edit  # noqa: E402

from promptvc.remote.branch_dbs import create_branch_db, delete_branch_db  # noqa: E402
from promptvc.remote.remotes import add_remote  # noqa: E402
from promptvc.remote.sqld import SqldServer, find_sqld  # noqa: E402
from promptvc.remote.fetch import fetch  # noqa: E402
from promptvc.remote.push import push  # noqa: E402
from promptvc.repo import Repo  # noqa: E402

AUTHOR = "Bench <bench@example.com>"


def main() -> None:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    binary = find_sqld()
    if not binary:
        raise SystemExit("no sqld found: run scripts/install-sqld first")
    tmp = Path(tempfile.mkdtemp(prefix="pvc-bench-branches-"))
    srv = SqldServer(binary).start(tmp / "srv" / "db")
    try:
        rnd = random.Random(7)
        repo = Repo.init(tmp / "repo")
        texts = {f"prompts/p{i}.md": document(rnd, rnd.randint(1000, 8000))
                 for i in range(args.files)}
        repo.commit_files({k: v.encode() for k, v in texts.items()}, "initial", author=AUTHOR)
        for i in range(args.commits - 1):
            name = rnd.choice(sorted(texts))
            texts[name] = edit(rnd, texts[name])
            repo.commit_files({name: texts[name].encode()}, f"edit {i}", author=AUTHOR)
        repo.restore(["."], cwd=repo.root)  # check out the working files
        remote = add_remote(repo.config, "origin", f"http://localhost:{srv.http_port}",
                            admin_url=srv.admin_url)
        t = time.perf_counter()
        push(repo, remote)
        first_push = time.perf_counter() - t
        times: dict[str, list[float]] = {"create": [], "merge": [], "delete": []}
        for r in range(args.rounds):
            t = time.perf_counter()
            create_branch_db(repo, remote, f"exp-{r}")
            times["create"].append(time.perf_counter() - t)
            # one commit on the branch, pushed to its database
            name = rnd.choice(sorted(texts))
            texts[name] = edit(rnd, texts[name])
            repo.commit_files({name: texts[name].encode()}, f"arm {r}", author=AUTHOR,
                              branch=f"exp-{r}")
            push(repo, remote, f"exp-{r}")
            t = time.perf_counter()
            fetch(repo, remote, branches=[f"exp-{r}"])
            repo.merge(f"exp-{r}", no_ff=True)
            push(repo, remote)
            times["merge"].append(time.perf_counter() - t)
            t = time.perf_counter()
            delete_branch_db(repo, remote, f"exp-{r}")
            times["delete"].append(time.perf_counter() - t)
        repo.close()
        print(f"\n## branch databases on a local sqld: repository of {args.commits} commits "
              f"({args.files} files), {args.rounds} rounds\n")
        print("| step | median | max |")
        print("| --- | --- | --- |")
        print(f"| first push of the whole history | {first_push * 1000:.0f} ms | |")
        labels = {"create": "create branch (fork + record mapping + push)",
                  "merge": "merge back (fetch branch db + merge + push)",
                  "delete": "delete branch (database + mapping + replica files)"}
        for key, label in labels.items():
            xs = times[key]
            print(f"| {label} | {statistics.median(xs) * 1000:.0f} ms | {max(xs) * 1000:.0f} ms |")
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
