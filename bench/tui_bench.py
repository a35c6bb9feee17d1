"""Benchmark the TUI: time to first paint and time from selecting a commit to its diff.

    .venv/bin/python bench/tui_bench.py                 # 1,000 and 100,000 commits
    .venv/bin/python bench/tui_bench.py --sizes 1000    # just one size
    .venv/bin/python bench/tui_bench.py --keep DIR      # keep (and reuse) the built repos
    .venv/bin/python bench/tui_bench.py --screenshot docs/tui.svg   # the docs screenshot

Repositories are built in bulk: one write transaction, versions / commits / changes written
through the Repo's version store and Store methods (the same steps as ``Repo.write_commit``,
without re-reading the working folder per commit). Every 100th commit is a merge of a short
side branch, so the log has merge commits to mark.

Targets: first paint <= 1.5 s and diff <= 100 ms, at every size.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RUST_LOG", "off")

from promptvc import refs as R  # noqa: E402
from promptvc.objects import commit_id, manifest_bytes  # noqa: E402
from promptvc.repo import Repo  # noqa: E402
from promptvc.store import ChangeRow, CommitRow  # noqa: E402

FIRST_PAINT_TARGET = 1.5
DIFF_TARGET = 0.100
AUTHORS = ["Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>",
           "Grace Hopper <grace@example.com>", "Edsger Dijkstra <ewd@example.com>"]
TEMPLATE = [f"Line {k}: You are a helpful assistant. Answer briefly and cite sources.\n"
            for k in range(40)]


# -- bulk builder -----------------------------------------------------------------------
class _Builder:
    def __init__(self, repo: Repo, files: int):
        self.repo = repo
        self.files = [f"prompts/p{k:02d}.md" for k in range(files)]
        self.tree: dict[str, str] = {}
        self.tree_id: str | None = None
        self.head: str | None = None
        self.gen = 0
        self.base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

    def content(self, i: int, path_index: int) -> bytes:
        lines = list(TEMPLATE)
        lines[i % len(lines)] = f"Line {i % len(lines)}: revision {i} of file {path_index}\n"
        return "".join(lines).encode()

    def commit(self, i: int, parents: tuple[str, ...], base_tree: dict[str, str],
               base_tree_id: str | None, gen: int, edits: dict[str, bytes], message: str
               ) -> tuple[str, dict[str, str], str]:
        vs = self.repo.versions
        at = (self.base + dt.timedelta(minutes=i)).isoformat(timespec="seconds")
        author = AUTHORS[i % len(AUTHORS)]
        tree = dict(base_tree)
        rows = []
        for path, data in edits.items():
            old = tree.get(path)
            vid, ins, dels = vs.put(data, kind="prompt", parent=old, path=path, at=at)
            tree[path] = vid
            rows.append((path, "M" if old else "A", vid, old, ins, dels))
        tree_id, _, _ = vs.put(manifest_bytes(tree), kind="tree", parent=base_tree_id, path=None,
                               at=at)
        cid = commit_id(tree_id, parents, author, at, message)
        store = self.repo.store
        store.insert_commit(CommitRow(cid, tree_id, parents[0] if parents else None,
                                      parents[1] if len(parents) > 1 else None, author, at,
                                      message, gen))
        store.insert_changes(ChangeRow(cid, p, s, None, v, o, a, d) for p, s, v, o, a, d in rows)
        return cid, tree, tree_id

    def build(self, n: int, merge_every: int = 100) -> dict[int, str]:
        marks: dict[int, str] = {}
        i = 0
        while i < n:
            k = i % len(self.files)
            if merge_every and i and i % merge_every == 0 and i + 1 < n and self.head:
                # a side commit off HEAD's parent's tree, then a merge of it
                side_path = self.files[(k + 7) % len(self.files)]
                side_id, side_tree, _ = self.commit(
                    i, (self.head,), self.tree, self.tree_id, self.gen + 1,
                    {side_path: self.content(i, -1)}, f"side: tweak {side_path}")
                marks[i] = side_id
                i += 1
                merged = dict(self.tree)
                merged[side_path] = side_tree[side_path]
                # the merge records its change against the first parent
                cid, tree, tree_id = self.commit(
                    i, (self.head, side_id), self.tree, self.tree_id, self.gen + 2,
                    {side_path: self.content(i - 1, -1)}, f"Merge side branch {i // merge_every}")
                self.gen += 2
            else:
                path = self.files[k]
                msg = f"Tune {path.split('/')[-1]}: revision {i}" + (" (fix typo)" if i % 7 == 0 else "")
                cid, tree, tree_id = self.commit(
                    i, (self.head,) if self.head else (), self.tree, self.tree_id, self.gen + 1,
                    {path: self.content(i, k)}, msg)
                self.gen += 1
            self.head, self.tree, self.tree_id = cid, tree, tree_id
            marks[i] = cid
            i += 1
        return marks


def build_repo(root: Path, n: int, files: int = 20, merge_every: int = 100) -> Path:
    """A repository at ROOT with N commits on main, a branch `feature` and a tag `v1`."""
    root.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(root)
    try:
        b = _Builder(repo, files)
        with repo.store.transaction():
            marks = b.build(n, merge_every)
            at = "2024-01-01T00:00:00+00:00"
            for ref, cid in ((R.HEADS + "main", b.head), (R.HEADS + "feature", marks[n // 2]),
                             (R.TAGS + "v1", marks[n // 3])):
                repo.store.cas_ref(ref, None, cid, at=at)
                repo.store.append_reflog(ref, None, cid, AUTHORS[0], at, "bench: bulk build")
        # make the working folder match HEAD so the repo is clean
        for path, vid in b.tree.items():
            p = root / path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(repo.read_version(vid))
        repo.add(list(b.tree), cwd=root)
    finally:
        repo.close()
    return root


# -- measurements ---------------------------------------------------------------------
async def _measure(root: Path, samples: int) -> tuple[float, list[float]]:
    """First paint: from before the app is built until the first frame that shows log
    rows. Diff: from moving the log cursor one commit down until the first frame that
    shows that commit's diff. Frames are the compositor updates the app hands to its
    driver (``App._display``), so these are what a terminal would show."""
    from promptvc.tui.app import make_app

    t0 = time.perf_counter()
    app = make_app(str(root))
    frames: list[tuple[float, int, tuple | None]] = []
    display = app._display

    def record(screen, renderable):
        frames.append((time.perf_counter(), app.log_pane.row_count, app.viewer.shown_key))
        return display(screen, renderable)

    app._display = record  # type: ignore[method-assign]

    async def frame_where(pred, since: int) -> float:
        while True:
            for t, rows, key in frames[since:]:
                if pred(rows, key):
                    return t
            await asyncio.sleep(0.001)

    diffs: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        first_paint = await frame_where(lambda rows, key: rows > 0, 0) - t0
        await frame_where(lambda rows, key: key is not None, 0)
        await pilot.pause()
        log = app.log_pane
        for step in range(1, samples + 1):
            target = log.commit_at(step).id
            since = len(frames)
            t1 = time.perf_counter()
            log.table.move_cursor(row=step)
            shown = await frame_where(lambda rows, key: key is not None and key[0] == target, since)
            diffs.append(shown - t1)
            await pilot.pause()
    return first_paint, diffs


# -- the screenshot in docs/tui.md -----------------------------------------------------------
DEMO = [
    ("Ada Lovelace <ada@example.com>", "2024-03-01T09:00:00+00:00", "Initial prompts", {
        "prompts/system.md": "You are a helpful assistant.\nAnswer briefly.\n",
        "prompts/summarise.md": "Summarise the text below.\n\n{text}\n",
        "prompts/classify.md": "Classify the ticket as bug, question or feature.\n",
    }),
    ("Alan Turing <alan@example.com>", "2024-03-02T10:30:00+00:00",
     "Make the system prompt precise", {
         "prompts/system.md": "You are a helpful, precise assistant.\nAnswer briefly.\n"
                              "Cite your sources.\n",
     }),
    ("Grace Hopper <grace@example.com>", "2024-03-04T14:00:00+00:00", "Bullet-point summaries", {
        "prompts/summarise.md": "Summarise the text below in three bullet points.\n"
                                "Keep each bullet under 20 words.\n\n{text}\n",
    }),
    ("Ada Lovelace <ada@example.com>", "2024-03-05T16:45:00+00:00",
     "Classify urgency as well", {
         "prompts/classify.md": "Classify the ticket as bug, question or feature,\n"
                                "and its urgency as low, normal or high.\n"
                                "Answer as JSON: {\"kind\": ..., \"urgency\": ...}\n",
     }),
    ("Alan Turing <alan@example.com>", "2024-03-06T08:15:00+00:00",
     "System prompt: one paragraph, no lists", {
         "prompts/system.md": "You are a helpful, precise assistant.\n"
                              "Answer in one paragraph; do not use lists.\n"
                              "Cite your sources.\n",
     }),
]


def build_demo(root: Path) -> Path:
    """A small, realistic repository for the documentation screenshot."""
    root.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(root)
    try:
        for i, (author, date, message, files) in enumerate(DEMO):
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8")
            if i == 0:
                repo.add(list(files), cwd=root)
            repo.commit_changes(message, author=author, date=date)
            if i == 2:
                repo.create_branch("experiment")
            if i == 3:
                repo.tag("v1.0")
    finally:
        repo.close()
    return root


async def _screenshot(root: Path, out: Path, size: tuple[int, int]) -> None:
    from promptvc.tui.app import make_app

    app = make_app(str(root))
    async with app.run_test(size=size) as pilot:
        while app.viewer.shown_key is None:
            await asyncio.sleep(0.01)
        await pilot.press("j", "j")  # "Bullet-point summaries"
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


def screenshot(out: Path, size: tuple[int, int] = (100, 30)) -> None:
    base = Path(tempfile.mkdtemp(prefix="pvc-tui-demo-"))
    try:
        asyncio.run(_screenshot(build_demo(base / "prompts-demo"), out, size))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--keep", metavar="DIR", help="build into DIR and reuse repos found there")
    ap.add_argument("--screenshot", metavar="SVG",
                    help="only save a screenshot of a small demo repository (docs/tui.svg)")
    args = ap.parse_args(argv)
    if args.screenshot:
        os.environ["PVC_AUTHOR"] = AUTHORS[0]
        screenshot(Path(args.screenshot).resolve())
        print(f"wrote {args.screenshot}")
        return 0
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pvc-tui-bench-"))
    os.environ["PVC_AUTHOR"] = AUTHORS[0]
    ok = True
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            root = base / f"repo-{n}"
            if not (root / ".pvc" / "pvc.db").exists():
                t = time.perf_counter()
                build_repo(root, n)
                print(f"{n:>7} commits: built in {time.perf_counter() - t:.1f} s", flush=True)
            paint, diffs = asyncio.run(_measure(root, args.samples))
            med, worst = statistics.median(diffs), max(diffs)
            good = paint <= FIRST_PAINT_TARGET and med <= DIFF_TARGET
            ok &= good
            print(f"{n:>7} commits: first paint {paint * 1000:7.1f} ms (target "
                  f"{FIRST_PAINT_TARGET * 1000:.0f}), commit -> diff median {med * 1000:5.1f} ms, "
                  f"max {worst * 1000:5.1f} ms over {len(diffs)} (target {DIFF_TARGET * 1000:.0f})"
                  f"  {'OK' if good else 'SLOW'}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
