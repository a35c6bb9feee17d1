"""Crash safety: real pvc processes SIGKILLed at random moments.

For `pvc commit`, `pvc merge`, `pvc push` and `pvc daemon run`, each test first measures a
normal run, then runs at least 100 seeded trials in which the command is started as a
subprocess and SIGKILLed after a delay drawn from [0, 1.2 x the normal run time]. After every
trial the repository is checked in-process: `fsck` is clean, the branch head is either the old
head or a complete new commit (tree and every version read back), every version committed
before is still readable, and the working folder is intact or brought back to HEAD by the
documented command (`pvc restore .`, or `pvc merge --abort` when a merge state was recorded).
"""

from __future__ import annotations

import functools
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from promptvc.remote.hrana import HranaClient
from promptvc.repo import Repo
from tests.conftest import invoke
from tests.conftest import wait_for as _wait_for

PVC = [sys.executable, "-m", "promptvc"]
TRIALS = 100
SEED = 20240611
PROCS: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_leaks():
    """Every process a test started is gone at its end (killed by pid if need be)."""
    yield
    left = [p for p in PROCS if p.poll() is None]
    for p in left:
        p.kill()
        p.wait()
    PROCS.clear()
    assert not left, f"processes left running: {[p.args for p in left]}"


# -- helpers --------------------------------------------------------------------------------
def cli(cwd: Path, *args: str, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run([*PVC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"pvc {' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    assert "Traceback" not in p.stderr, p.stderr
    return p


def start(cwd: Path, *args: str, log: Path | None = None) -> subprocess.Popen:
    """Start pvc ARGS; output to pipes, or appended to LOG (long-running daemons)."""
    if log is None:
        p = subprocess.Popen([*PVC, *args], cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    else:
        with open(log, "ab") as fh:
            p = subprocess.Popen([*PVC, *args], cwd=cwd, stdout=fh, stderr=fh)
    PROCS.append(p)
    return p


def run_and_kill(cwd: Path, args: list[str], delay: float | None
                 ) -> tuple[bool, subprocess.Popen, str]:
    """Start pvc ARGS; SIGKILL it after DELAY seconds unless it ended first (None: never).
    Returns (killed, process, stderr)."""
    p = start(cwd, *args)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)  # it may have ended just now: then this does nothing
    _, err = p.communicate(timeout=30)
    PROCS.remove(p)
    killed = p.returncode == -signal.SIGKILL
    assert killed or "Traceback" not in err, err
    return killed, p, err


def pvc_here(monkeypatch, root: Path, *args: str):
    """pvc ARGS through the real CLI entry point, in this process (cheaper than a process)."""
    monkeypatch.chdir(root)
    r = invoke(*args)
    assert "Traceback" not in r.output, r.output
    return r


def timed_run(cwd: Path, *args: str) -> float:
    t = time.monotonic()
    cli(cwd, *args)
    return time.monotonic() - t


def delays(rng: random.Random, normal: float, n: int = TRIALS) -> list[float | None]:
    """N kill delays up to 1.2 x the normal run time; the last is None (runs to its end), so
    a finished run is seen however slow the machine is today."""
    out: list[float | None] = [rng.uniform(0.0, 1.2 * normal) for _ in range(n)]
    out[-1] = None
    return out


def all_versions(root: Path) -> dict[str, bytes]:
    repo = Repo.open(root)
    try:
        return {row.id: repo.read_version(row.id) for row in repo.store.iter_versions()}
    finally:
        repo.close()


def check_fsck(repo: Repo, where: str) -> None:
    report = repo.fsck()
    assert report.ok, f"{where}: fsck found problems: {[str(p) for p in report.problems]}"


def check_versions(repo: Repo, versions: dict[str, bytes], where: str) -> None:
    for vid, data in versions.items():
        assert repo.read_version(vid) == data, f"{where}: version {vid[:12]} changed"


def read_tree(repo: Repo, cid: str) -> dict[str, bytes]:
    """Every file of commit CID, read back (raises if any version is missing or damaged)."""
    return {path: repo.read(cid, path) for path in repo.tree(cid)}


def work_files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".pvc/"):
            out[rel] = p.read_bytes()
    return out


def lines(tag: str, n: int, width: int = 6) -> str:
    return "".join(f"{tag} line {i}: " + "word " * width + "\n" for i in range(n))


def init_repo(root: Path) -> Repo:
    root.mkdir(parents=True, exist_ok=True)
    return Repo.init(root)


def commit_all(repo: Repo, message: str) -> str:
    return repo.commit_changes(message, cwd=repo.root).id


# -- pvc commit -----------------------------------------------------------------------------
def make_commit_template(root: Path) -> None:
    repo = init_repo(root)
    for i in range(12):
        (root / f"p{i:02}.md").write_text(lines(f"p{i} v0", 40))
    (root / "sub").mkdir()
    (root / "sub" / "deep.prompt").write_text(lines("deep v0", 20))
    repo.add(["."], cwd=root)
    commit_all(repo, "first")
    for rev in (1, 2):
        for i in range(0, 12, rev + 1):
            (root / f"p{i:02}.md").write_text(lines(f"p{i} v{rev}", 40 + rev))
        commit_all(repo, f"rev {rev}")
    (root / "new.md").write_text(lines("new file", 15))
    repo.add(["new.md"], cwd=root)  # tracked, not committed yet: the trial commits it
    repo.close()


def edit_for_commit(root: Path, rng: random.Random, trial: int) -> dict[str, bytes]:
    """Change a random half of the files; return the expected tree of the next commit."""
    for i in rng.sample(range(12), 6):
        p = root / f"p{i:02}.md"
        text = p.read_text().splitlines(keepends=True)
        for j in rng.sample(range(len(text)), 5):
            text[j] = f"trial {trial} edit {j} " + "x" * rng.randint(0, 40) + "\n"
        p.write_text("".join(text))
    if rng.random() < 0.3:
        (root / "sub" / "deep.prompt").unlink()  # a deletion
    return work_files(root)


@pytest.mark.timeout(300)
def test_commit_sigkill(tmp_path):
    template = tmp_path / "template"
    make_commit_template(template)
    versions = all_versions(template)
    repo = Repo.open(template)
    old_head = repo.head()
    repo.close()
    times = []
    for k in range(3):
        d = tmp_path / f"measure{k}"
        shutil.copytree(template, d)
        edit_for_commit(d, random.Random(k), -1)
        times.append(timed_run(d, "commit", "-m", "measured"))
    normal = statistics.median(times)
    rng = random.Random(SEED)
    outcomes = {"old head": 0, "new head (killed)": 0, "new head (finished)": 0}
    for trial, delay in enumerate(delays(rng, normal)):
        root = tmp_path / f"t{trial}"
        shutil.copytree(template, root)
        expected = edit_for_commit(root, rng, trial)
        killed, proc, err = run_and_kill(root, ["commit", "-m", f"trial {trial}"], delay)
        where = f"commit trial {trial} (delay {delay}s, killed={killed})"
        assert killed or proc.returncode == 0, f"{where}: {err}"
        repo = Repo.open(root)
        try:
            check_fsck(repo, where)
            head = repo.head()
            assert work_files(root) == expected, f"{where}: working files changed"
            check_versions(repo, versions, where)
            if head == old_head:
                assert killed, f"{where}: finished but the branch did not move"
                outcomes["old head"] += 1
                # nothing half-done is in the way: the same commit succeeds now
                head = commit_all(repo, f"trial {trial} again")
            else:
                outcomes["new head (killed)" if killed else "new head (finished)"] += 1
            row = repo.commit_row(head)
            assert row.parents == (old_head,), f"{where}: unexpected parents"
            assert read_tree(repo, head) == expected, f"{where}: commit is incomplete"
            assert repo.status(untracked=False).clean, where
        finally:
            repo.close()
        shutil.rmtree(root)
    print(f"\ncommit: normal run {normal * 1000:.0f} ms, {TRIALS} trials: {outcomes}")
    assert outcomes["old head"] > 0 and outcomes["new head (finished)"] > 0, outcomes


# -- pvc merge ------------------------------------------------------------------------------
def make_merge_template(root: Path) -> None:
    """main and three branches: `feature` merges cleanly (three-way, with added, deleted and
    moved-into-a-folder files), `clash` conflicts with main, `ahead` is a fast-forward."""
    repo = init_repo(root)
    for i in range(8):
        (root / f"f{i}.md").write_text(lines(f"f{i} base", 30))
    repo.add(["."], cwd=root)
    commit_all(repo, "base")
    repo.create_branch("feature")
    repo.create_branch("clash")
    # main: edit the end of f0..f5, and f6
    for i in range(6):
        t = (root / f"f{i}.md").read_text().splitlines(keepends=True)
        t[22:26] = [f"main edit {i}.{j}\n" for j in range(4)]
        (root / f"f{i}.md").write_text("".join(t))
    (root / "f6.md").write_text(lines("f6 main", 31))
    commit_all(repo, "main: edits")
    repo.create_branch("ahead")
    # feature: edit the start of f0..f5, add files in a folder, delete f7
    repo.switch("feature")
    for i in range(6):
        t = (root / f"f{i}.md").read_text().splitlines(keepends=True)
        t[1:4] = [f"feature edit {i}.{j}\n" for j in range(3)]
        (root / f"f{i}.md").write_text("".join(t))
    commit_all(repo, "feature: edits")
    (root / "sub").mkdir()
    for j in range(3):
        (root / "sub" / f"n{j}.prompt").write_text(lines(f"new {j}", 25))
    repo.add(["sub"], cwd=root)
    repo.rm(["f7.md"], cwd=root)
    commit_all(repo, "feature: add and delete")
    # clash: edit the same lines as main
    repo.switch("clash")
    for i in range(3):
        t = (root / f"f{i}.md").read_text().splitlines(keepends=True)
        t[22:26] = [f"clash edit {i}.{j}\n" for j in range(4)]
        (root / f"f{i}.md").write_text("".join(t))
    (root / "c.md").write_text(lines("clash only", 10))
    repo.add(["c.md"], cwd=root)
    commit_all(repo, "clash: edits")
    # ahead: two commits on top of main
    repo.switch("ahead")
    for k in range(2):
        (root / "f6.md").write_text(lines(f"f6 ahead {k}", 32))
        (root / f"a{k}.md").write_text(lines(f"ahead {k}", 12))
        repo.add([f"a{k}.md"], cwd=root)
        commit_all(repo, f"ahead {k}")
    repo.switch("main")
    repo.close()


MERGES = ["feature", "clash", "ahead"]


@pytest.mark.timeout(300)
def test_merge_sigkill(tmp_path, monkeypatch):
    template = tmp_path / "template"
    make_merge_template(template)
    versions = all_versions(template)
    repo = Repo.open(template)
    old_head = repo.head()
    tips = {b: repo.resolve(b) for b in MERGES}
    repo.close()
    # normal runs: their time and their result
    normal: dict[str, float] = {}
    expected: dict[str, dict[str, bytes]] = {}
    for rev in MERGES:
        times = []
        for k in range(3):
            d = tmp_path / f"measure-{rev}-{k}"
            shutil.copytree(template, d)
            t = time.monotonic()
            p = cli(d, "merge", rev, check=False)
            times.append(time.monotonic() - t)
            assert p.returncode == (1 if rev == "clash" else 0), p.stderr
            repo = Repo.open(d)
            expected[rev] = read_tree(repo, repo.head()) if rev != "clash" else {}
            repo.close()
        normal[rev] = statistics.median(times)
    rng = random.Random(SEED + 1)
    outcomes: dict[str, int] = {}
    leftovers = 0
    for trial in range(TRIALS):
        rev = MERGES[trial % 3]
        delay: float | None = rng.uniform(0.0, 1.2 * normal[rev])
        if trial >= TRIALS - len(MERGES):  # the last round runs to its end: every outcome is
            delay = None                   # seen however slow the machine is today
        root = tmp_path / f"t{trial}"
        shutil.copytree(template, root)
        killed, proc, err = run_and_kill(root, ["merge", rev], delay)
        where = f"merge {rev} trial {trial} (delay {delay}s, killed={killed})"
        if not killed:
            assert proc.returncode == (1 if rev == "clash" else 0), f"{where}: {err}"
        repo = Repo.open(root)
        try:
            check_fsck(repo, where)
            check_versions(repo, versions, where)
            head = repo.head()
            merging = repo.store.get_state("MERGE_HEAD")
            if head == old_head:
                assert killed or rev == "clash", f"{where}: finished but nothing moved"
                assert merging in (None, tips[rev]), where
            elif rev == "ahead":
                assert head == tips[rev], f"{where}: fast-forward to the wrong commit"
                assert read_tree(repo, head) == expected[rev], where
            else:
                row = repo.commit_row(head)
                assert rev == "feature" and row.parents == (old_head, tips[rev]), where
                assert read_tree(repo, head) == expected[rev], f"{where}: merge commit incomplete"
            outcome = ("merge state" if merging else "old head" if head == old_head
                       else "new head") + (" (killed)" if killed else "")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            repo.close()
        # the documented way back (a real process every 10th trial, else in-process)
        recover = ["merge", "--abort"] if merging else ["restore", "."]
        if trial % 10 == 0:
            cli(root, *recover)
        else:
            r = pvc_here(monkeypatch, root, *recover)
            assert r.exit_code == 0, f"{where}: pvc {' '.join(recover)}: {r.output}"
        repo = Repo.open(root)
        try:
            head = repo.head()
            tree = read_tree(repo, head)
            files = work_files(root)
            for path, data in tree.items():
                assert files.get(path) == data, f"{where}: {path} not restored"
            st = repo.status()
            assert st.clean and not st.merging, f"{where}: not clean after recovery: {st}"
            extra = {p for p in files if p not in tree}
            if extra:  # files the killed merge wrote for paths HEAD does not have
                leftovers += 1
                assert head == old_head, where
                assert all(p in expected.get(rev, {}) or p.endswith(".pvc-tmp") or rev == "clash"
                           for p in extra), f"{where}: unexpected files {extra}"
            check_fsck(repo, where + " after recovery")
            if head == old_head:  # and the merge can simply be run again
                out = repo.merge(rev)
                assert out.kind == {"feature": "merged", "clash": "conflicts",
                                    "ahead": "fast-forward"}[rev], (where, out.kind)
                if rev != "clash":
                    assert read_tree(repo, repo.head()) == expected[rev], where
                else:
                    repo.merge_abort()
                check_fsck(repo, where + " after re-merge")
        finally:
            repo.close()
        shutil.rmtree(root)
    print(f"\nmerge: normal runs {({k: round(v * 1000) for k, v in normal.items()})} ms, "
          f"{TRIALS} trials: {outcomes}; untracked leftovers after restore: {leftovers}")
    assert outcomes.get("old head (killed)", 0) > 0
    assert outcomes.get("new head", 0) + outcomes.get("new head (killed)", 0) > 0
    assert outcomes.get("merge state", 0) + outcomes.get("merge state (killed)", 0) > 0


# -- pvc push -------------------------------------------------------------------------------
def remote_state(url: str, ids: list[str]) -> tuple[str | None, int]:
    with HranaClient(url) as c:
        rows = c.execute("SELECT target FROM refs WHERE name = 'refs/heads/main'").rows
        marks = ",".join("?" for _ in ids)
        n = c.execute(f"SELECT count(*) FROM commits WHERE id IN ({marks})", tuple(ids)).rows[0][0]
    return (rows[0][0] if rows else None), n


@pytest.mark.sqld
@pytest.mark.timeout(300)
def test_push_sigkill(tmp_path, server, monkeypatch):
    url = f"http://localhost:{server.http_port}"
    root = tmp_path / "a"
    repo = init_repo(root)
    for i in range(5):
        (root / f"p{i}.md").write_text(lines(f"p{i} base", 40))
    repo.add(["."], cwd=root)
    commit_all(repo, "base")
    repo.close()
    cli(root, "remote", "add", "origin", url)
    cli(root, "config", "remote.origin.timeout", "5")
    cli(root, "config", "remote.origin.backoff", "0.05")
    cli(root, "push")
    rng = random.Random(SEED + 2)
    counter = [0]

    def new_commits(n: int) -> list[str]:
        repo = Repo.open(root)
        try:
            ids = []
            for _ in range(n):
                counter[0] += 1
                for i in rng.sample(range(5), 2):
                    p = root / f"p{i}.md"
                    t = p.read_text().splitlines(keepends=True)
                    line = f"edit {counter[0]} " + "y" * rng.randint(0, 60) + "\n"
                    t[rng.randrange(len(t))] = line
                    p.write_text("".join(t))
                ids.append(commit_all(repo, f"c{counter[0]}"))
            return ids
        finally:
            repo.close()

    times = []
    for _ in range(3):
        new_commits(4)
        times.append(timed_run(root, "push"))
    normal = statistics.median(times)
    outcomes: dict[str, int] = {}
    for trial in range(TRIALS):
        old_remote, _ = remote_state(url, ["x"])
        ids = new_commits(rng.randint(1, 6))
        head = ids[-1]
        delay: float | None = rng.uniform(0.0, 1.2 * normal)
        if trial == TRIALS - 1:  # the last one runs to its end, however slow the machine
            delay = None
        killed, proc, err = run_and_kill(root, ["push"], delay)
        where = f"push trial {trial} (delay {delay}s, killed={killed})"
        assert killed or proc.returncode == 0, f"{where}: {err}"
        target, present = remote_state(url, ids)
        assert (target, present) in {(old_remote, 0), (head, len(ids))}, \
            f"{where}: remote at {str(target)[:8]} with {present} of {len(ids)} new commits"
        outcome = ("remote moved" if target == head else "remote unchanged") + \
            (" (killed)" if killed else "")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        repo = Repo.open(root)
        try:
            check_fsck(repo, where)
            assert repo.head() == head
            tracking = repo.store.get_ref("refs/remotes/origin/main")
            assert tracking in (old_remote, head), where
        finally:
            repo.close()
        # the next push succeeds, whatever happened (a real process every 10th trial)
        if trial % 10 == 0:
            p = cli(root, "push", check=False)
            code, out = p.returncode, p.stdout + p.stderr
        else:
            r = pvc_here(monkeypatch, root, "push")
            code, out = r.exit_code, r.output
        assert code == 0, f"{where}: the next push failed: {out}"
        assert remote_state(url, ids) == (head, len(ids)), where
    print(f"\npush: normal run {normal * 1000:.0f} ms, {TRIALS} trials: {outcomes}")
    assert outcomes.get("remote unchanged (killed)", 0) > 0
    assert outcomes.get("remote moved", 0) > 0
    # what the primary holds is complete: a fresh clone verifies every object
    cli(tmp_path, "clone", url, "b")
    repo = Repo.open(tmp_path / "b")
    try:
        check_fsck(repo, "clone")
        assert repo.head() == head
    finally:
        repo.close()


# -- pvc daemon run -------------------------------------------------------------------------
def replica_children(root: Path) -> list[int]:
    """pids of replica-sync child processes working on ROOT's replica files."""
    marker = str(root / ".pvc" / "remotes")
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"promptvc.remote.replica" in cmd and any(marker.encode() in a for a in cmd):
            out.append(int(d.name))
    return out


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if Path(f"/proc/{p}").exists()
                 and "zombie" not in _proc_state(p)]
        if alive:
            time.sleep(0.02)
    return alive


def _proc_state(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        return "gone zombie"
    return ""


class Saver(threading.Thread):
    """Saves p.md again and again, like an editor: in place or by rename-over."""

    def __init__(self, root: Path, rng: random.Random, tag: str):
        super().__init__(daemon=True)
        self.root, self.rng, self.tag = root, rng, tag
        self.stop = threading.Event()
        self.saved: list[str] = []

    def save(self, text: str) -> None:
        p = self.root / "p.md"
        if self.rng.random() < 0.5:
            p.write_text(text)
        else:
            tmp = self.root / "p.md~"
            tmp.write_text(text)
            os.replace(tmp, p)
        self.saved.append(text)

    def run(self) -> None:
        j = 0
        while not self.stop.is_set():
            self.save(f"{self.tag} save {j}\n" * self.rng.randint(20, 80))
            j += 1
            self.stop.wait(self.rng.uniform(0.02, 0.3))


def daemon_args() -> list[str]:
    return ["daemon", "run", "--debounce", "0.1", "--interval", "0.3"]


wait_for = functools.partial(_wait_for, timeout=20.0)


def daemon_running(root: Path, p: subprocess.Popen) -> bool:
    """The daemon P has started (its signal handlers are installed) and runs."""
    try:
        st = json.loads((root / ".pvc" / "daemon.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return st.get("pid") == p.pid and st.get("state") != "starting"


def synced(root: Path, url: str, content: str) -> bool:
    repo = Repo.open(root)
    try:
        head = repo.head()
        if head is None or repo.read(head, "p.md") != content.encode():
            return False
    finally:
        repo.close()
    target, _ = remote_state(url, [head])
    return target == head


@pytest.mark.sqld
@pytest.mark.timeout(300)
def test_daemon_sigkill(tmp_path, server):
    url = f"http://localhost:{server.http_port}"
    root = tmp_path / "a"
    repo = init_repo(root)
    (root / "p.md").write_text("start\n")
    repo.add(["p.md"], cwd=root)
    commit_all(repo, "start")
    repo.close()
    cli(root, "remote", "add", "origin", url)
    cli(root, "config", "remote.origin.timeout", "3")
    cli(root, "config", "remote.origin.backoff", "0.05")
    cli(root, "push")

    def stop(p: subprocess.Popen) -> None:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        PROCS.remove(p)
        assert p.returncode == 0, (tmp_path / "daemon.log").read_text()[-2000:]

    # a normal run: start-up, then two saves, each committed and pushed
    times = []
    measured = set()
    for k in range(3):
        t = time.monotonic()
        p = start(root, *daemon_args(), log=tmp_path / "daemon.log")
        wait_for(lambda: daemon_running(root, p), what="daemon start")
        for j in range(2):
            content = f"measure {k}.{j}\n" * 30
            measured.add(content)
            (root / "p.md").write_text(content)
            wait_for(lambda: synced(root, url, content), what="measured save pushed")
        times.append(time.monotonic() - t)
        stop(p)
    normal = statistics.median(times)
    rng = random.Random(SEED + 3)
    seen_commits: list[str] = []
    all_saved: set[str] = {"start\n"} | measured
    orphans = half_written = 0
    outcomes = {"killed": 0, "made commits": 0, "pushed": 0, "verified restarts": 0}
    for trial in range(TRIALS):
        delay = rng.uniform(0.0, 1.2 * normal)
        saver = Saver(root, random.Random(SEED * 1000 + trial), f"trial {trial}")
        p = start(root, *daemon_args(), log=tmp_path / "daemon.log")
        saver.start()
        killed = True
        try:
            p.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=20)
        PROCS.remove(p)
        saver.stop.set()
        saver.join()
        all_saved.update(saver.saved)
        where = f"daemon trial {trial} (delay {delay:.3f}s)"
        assert killed, f"{where}: the daemon exited by itself ({p.returncode})"
        outcomes["killed"] += 1
        # a replica sync child outlives its daemon (it runs in its own session)
        children = replica_children(root)
        if children:
            orphans += 1
            left = wait_gone(children, 10)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            assert not left, f"{where}: replica sync child {left} still running 10 s after"
        repo = Repo.open(root)
        try:
            check_fsck(repo, where)
            head = repo.head()
            read_tree(repo, head)
            for cid in seen_commits:
                read_tree(repo, cid)
            new = [c.id for c in repo.log(exclude=seen_commits[-1])] if seen_commits else []
            outcomes["made commits"] += bool(new)
            outcomes["pushed"] += bool(new) and remote_state(url, [head])[0] == head
            for cid in new:
                data = repo.read(cid, "p.md").decode()
                if data not in all_saved:
                    # an in-place save whose writer stalled, between truncating and writing,
                    # for longer than the stability window looks finished (the daemon's
                    # rule: unchanged across the window); anything else would be corruption
                    assert any(t.startswith(data) for t in all_saved), \
                        f"{where}: commit {cid[:8]} has content never saved: {data[:80]!r}"
                    half_written += 1
            seen_commits.extend(reversed(new))
            if not seen_commits:
                seen_commits.append(head)
        finally:
            repo.close()
        if trial % 10 == 9:  # restart: the last save is committed and pushed
            last = (root / "p.md").read_text()
            p = start(root, *daemon_args(), log=tmp_path / "daemon.log")
            try:
                wait_for(lambda: daemon_running(root, p) and synced(root, url, last),
                         what=f"{where}: last save pushed")
            finally:
                stop(p)
            outcomes["verified restarts"] += 1
            repo = Repo.open(root)
            try:
                check_fsck(repo, where + " after restart")
            finally:
                repo.close()
    assert not replica_children(root)
    print(f"\ndaemon: normal run {normal * 1000:.0f} ms, {TRIALS} trials: {outcomes}; "
          f"trials that left a replica-sync child running: {orphans}; in-place saves caught "
          f"mid-write by a stalled writer: {half_written}")
    cli(tmp_path, "clone", url, "b")
    assert (tmp_path / "b" / "p.md").read_text() == (root / "p.md").read_text()
    repo = Repo.open(tmp_path / "b")
    try:
        check_fsck(repo, "clone")
    finally:
        repo.close()


# -- what the trials above found ------------------------------------------------------------
def landed_but_unrecorded_push(tmp_path: Path, server) -> tuple[Path, str, str, str]:
    """The state a push SIGKILLed at the wrong moment leaves (seen in the push trials as
    "remote moved (killed)"): its batch reached the primary, but the process died before it
    recorded origin/main. Made deterministic here: another process holds the write lock of
    .pvc/pvc.db, so the push waits in its last step until it is killed."""
    import sqlite3

    url = f"http://localhost:{server.http_port}"
    root = tmp_path / "a"
    repo = init_repo(root)
    (root / "p.md").write_text("one\n")
    repo.add(["p.md"], cwd=root)
    old = commit_all(repo, "one")
    repo.close()
    cli(root, "remote", "add", "origin", url)
    cli(root, "config", "remote.origin.backoff", "0.05")
    cli(root, "push")
    repo = Repo.open(root)
    (root / "p.md").write_text("two\n")
    new = commit_all(repo, "two")
    repo.close()
    lock = sqlite3.connect(root / ".pvc" / "pvc.db", isolation_level=None, timeout=0)
    lock.execute("BEGIN IMMEDIATE")
    p = start(root, "push")
    try:
        wait_for(lambda: remote_state(url, [new]) == (new, 1), timeout=10, what="push landed")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        PROCS.remove(p)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    repo = Repo.open(root)
    try:
        check_fsck(repo, "after the killed push")
        assert repo.store.get_ref("refs/remotes/origin/main") == old
    finally:
        repo.close()
    return root, url, old, new


@pytest.mark.sqld
def test_push_after_a_killed_push_recovers_with_pull(tmp_path, server):
    root, url, _, landed = landed_but_unrecorded_push(tmp_path, server)
    (root / "p.md").write_text("three\n")
    cli(root, "commit", "-m", "three")
    cli(root, "pull")  # the hint of the non-fast-forward error
    assert head_is_ancestor(root, landed)
    cli(root, "push")
    target, _ = remote_state(url, [landed])
    assert target == Repo.open(root).head()


def head_is_ancestor(root: Path, cid: str) -> bool:
    repo = Repo.open(root)
    try:
        return cid in repo.store.ancestor_ids([repo.head()])
    finally:
        repo.close()


@pytest.mark.sqld
def test_push_after_a_killed_push_and_a_new_commit(tmp_path, server):
    root, url, _, landed = landed_but_unrecorded_push(tmp_path, server)
    (root / "p.md").write_text("three\n")
    cli(root, "commit", "-m", "three")
    assert head_is_ancestor(root, landed)  # the remote branch is behind us: a fast-forward
    p = cli(root, "push", check=False)
    assert p.returncode == 0, p.stderr


@pytest.mark.sqld
def test_daemon_killed_mid_sync_leaves_no_sync_child(tmp_path, server):
    url = f"http://localhost:{server.http_port}"
    root = tmp_path / "a"
    repo = init_repo(root)
    (root / "p.md").write_text("one\n")
    repo.add(["p.md"], cwd=root)
    commit_all(repo, "one")
    repo.close()
    cli(root, "remote", "add", "origin", url)
    cli(root, "config", "remote.origin.timeout", "2")
    cli(root, "push")
    server.pause()
    orphans: list[int] = []
    try:
        p = start(root, *daemon_args(), log=tmp_path / "daemon.log")
        orphans = wait_for(lambda: replica_children(root), timeout=15, what="a sync child")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        PROCS.remove(p)
        time.sleep(3)  # past the 2 s deadline the daemon would have enforced
        orphans = replica_children(root)
        assert orphans == [], f"replica-sync child {orphans} still running after its daemon died"
    finally:
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(orphans, 5)
        server.resume()


def test_daemon_restarted_during_a_save_commits_no_half_written_file(tmp_path):
    root = tmp_path / "r"
    repo = init_repo(root)
    (root / "p.md").write_text("old\n")
    repo.add(["p.md"], cwd=root)
    commit_all(repo, "one")
    repo.close()
    final = "".join(f"line {i} of the new prompt\n" for i in range(150))

    def slow_save():  # an editor writing a large file in chunks, 20 ms apart
        with open(root / "p.md", "w") as fh:
            for i in range(150):
                fh.write(f"line {i} of the new prompt\n")
                fh.flush()
                time.sleep(0.02)

    writer = threading.Thread(target=slow_save)
    writer.start()
    time.sleep(0.3)
    p = start(root, "daemon", "run", "--debounce", "0.3", log=tmp_path / "daemon.log")
    try:
        writer.join()
        wait_for(lambda: daemon_running(root, p)
                 and cli(root, "show", "HEAD:p.md", check=False).stdout == final,
                 what="the finished save committed")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        PROCS.remove(p)
    repo = Repo.open(root)
    try:
        committed = [repo.read(c.id, "p.md").decode() for c in repo.log()]
    finally:
        repo.close()
    half = [len(t) for t in committed if t not in ("old\n", final)]
    assert half == [], f"half-written p.md committed ({half} of {len(final)} bytes)"


# -- journaled working-tree updates: merge, switch, restore, pull, clone ----------------------
# After a SIGKILL at any moment, the next pvc command (here `pvc status`) finishes or rolls
# back the interrupted update by itself: the working files are exactly the old or the new
# state, fsck is clean, no journal and no temporary file is left, and a killed clone leaves
# nothing that blocks the retry. The default suite runs a short seeded sample; the long run
# (>= 100 trials per command) is:
#     PVC_CRASH_LONG=1 ./scripts/test -m crash_long tests/test_crash.py
WT_FILES = 60
WT_SAMPLE = 4
WT_LONG = 100


def make_worktree_template(root: Path) -> None:
    """main with WT_FILES files; `other` changes all of them (switch), `feature` edits their
    starts and adds a folder (a clean three-way merge of every file), main edits their ends."""
    repo = init_repo(root)
    for i in range(WT_FILES):
        (root / f"w{i:03}.md").write_text(lines(f"w{i} base", 24))
    repo.add(["."], cwd=root)
    commit_all(repo, "base")
    repo.create_branch("feature")
    repo.create_branch("other")
    for i in range(WT_FILES):
        t = (root / f"w{i:03}.md").read_text().splitlines(keepends=True)
        t[20:22] = [f"main end {i}\n", "main end 2\n"]
        (root / f"w{i:03}.md").write_text("".join(t))
    commit_all(repo, "main: ends")
    repo.switch("feature")
    for i in range(WT_FILES):
        t = (root / f"w{i:03}.md").read_text().splitlines(keepends=True)
        t[1:3] = [f"feature start {i}\n", "feature start 2\n"]
        (root / f"w{i:03}.md").write_text("".join(t))
    (root / "fold").mkdir()
    for j in range(10):
        (root / "fold" / f"n{j}.md").write_text(lines(f"n{j}", 10))
    repo.add(["fold"], cwd=root)
    commit_all(repo, "feature: starts")
    repo.switch("other")
    for i in range(WT_FILES):
        (root / f"w{i:03}.md").write_text(lines(f"w{i} other", 26))
    commit_all(repo, "other: everything")
    repo.switch("main")
    repo.close()


def check_worktree_after(root: Path, where: str, allowed: list[dict[str, bytes]]) -> str:
    """Run `pvc status` (it settles the journal), then check the invariants. Returns which
    allowed state the working folder is in ('0', '1', ... or 'merge')."""
    p = cli(root, "status", check=False)
    assert p.returncode == 0, f"{where}: status failed: {p.stderr}"
    assert not (root / ".pvc" / "worktree.journal").exists(), f"{where}: journal left"
    files = work_files(root)
    assert not [f for f in files if f.endswith(".pvc-tmp")], f"{where}: temporary file left"
    repo = Repo.open(root)
    try:
        check_fsck(repo, where)
        head = repo.head()
        if repo.store.get_state("MERGE_HEAD"):
            return "merge"
        tree = read_tree(repo, head) if head else {}
        if files == tree:
            return "head"
        for i, state in enumerate(allowed):
            if files == state:
                return str(i)
        diff = sorted(set(files) ^ set(tree)) or sorted(p for p in files if files[p] != tree.get(p))
        raise AssertionError(f"{where}: working files are neither the old nor the new state "
                             f"(HEAD {str(head)[:8]}; differing: {diff[:5]})")
    finally:
        repo.close()


def _worktree_trials(tmp_path: Path, command: str, trials: int, server=None) -> dict:
    rng = random.Random(SEED + 10 + WT_COMMANDS.index(command))
    template = tmp_path / "template"
    make_worktree_template(template)
    url = None
    if command in ("pull", "clone"):
        from tests.sqld_harness import unique_namespace

        ns = unique_namespace("wt")
        server.create_namespace(ns)
        url = server.namespace_url(ns)
        cli(template, "remote", "add", "origin", url)
        cli(template, "push")
        if command == "pull":  # the clone to pull into is one commit behind
            cli(tmp_path, "clone", url, "behind")
            shutil.rmtree(template)
            template = tmp_path / "behind"
            pusher = tmp_path / "pusher"
            cli(tmp_path, "clone", url, "pusher")
            for i in range(WT_FILES):
                (pusher / f"w{i:03}.md").write_text(lines(f"w{i} pushed", 25))
            repo = Repo.open(pusher)
            commit_all(repo, "pushed")
            repo.close()
            cli(pusher, "push")
    args = {"merge": ["merge", "feature"], "switch": ["switch", "other"],
            "restore": ["restore", "."], "pull": ["pull"], "clone": ["clone", url or "", "c"]}[command]
    if command == "restore":
        for i in range(WT_FILES):
            (template / f"w{i:03}.md").write_text(lines(f"w{i} dirty", 23))
    old_state = work_files(template)
    # a normal run's time
    d = tmp_path / "measure"
    shutil.copytree(template, d)
    cwd = d if command != "clone" else tmp_path
    if command == "clone":
        (tmp_path / "measure").mkdir(exist_ok=True)
        cwd = tmp_path / "measure"
    t = time.monotonic()
    cli(cwd, *args)
    normal = time.monotonic() - t
    outcomes: dict[str, int] = {}
    for trial in range(trials):
        delay = rng.uniform(0.0, 1.2 * normal)
        root = tmp_path / f"t{trial}"
        if command == "clone":
            root.mkdir()
            killed, proc, err = run_and_kill(root, args, delay)
            where = f"clone trial {trial} (delay {delay:.3f}s, killed={killed})"
            target = root / "c"
            finished = (target / ".pvc" / "pvc.db").exists() and \
                not (target / ".pvc" / "CLONING").exists()  # killed while it printed
            if killed and not finished:  # the retry must not be blocked by what it left
                cli(root, *args)
            assert (target / ".pvc" / "pvc.db").exists(), where
            assert not (target / ".pvc" / "CLONING").exists(), where
            state = check_worktree_after(target, where, [])
            outcomes[f"{state}{' (killed)' if killed else ''}"] = outcomes.get(
                f"{state}{' (killed)' if killed else ''}", 0) + 1
            shutil.rmtree(root)
            continue
        shutil.copytree(template, root)
        killed, proc, err = run_and_kill(root, args, delay)
        where = f"{command} trial {trial} (delay {delay:.3f}s, killed={killed})"
        if not killed:
            assert proc.returncode == 0, f"{where}: {err}"
        state = check_worktree_after(root, where, [old_state])
        if command == "restore":
            assert state in ("head", "0"), where
        key = f"{'old' if state == '0' else state}{' (killed)' if killed else ''}"
        outcomes[key] = outcomes.get(key, 0) + 1
        shutil.rmtree(root)
    print(f"\n{command}: normal run {normal * 1000:.0f} ms, {trials} trials: {outcomes}")
    return outcomes


WT_COMMANDS = ["merge", "switch", "restore", "pull", "clone"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("command", WT_COMMANDS)
def test_worktree_update_sigkill_sample(tmp_path, command, request):
    server = request.getfixturevalue("server") if command in ("pull", "clone") else None
    outcomes = _worktree_trials(tmp_path, command, WT_SAMPLE, server)
    assert sum(outcomes.values()) == WT_SAMPLE


@pytest.mark.crash_long
@pytest.mark.skipif(not os.environ.get("PVC_CRASH_LONG"), reason="long crash run: set "
                    "PVC_CRASH_LONG=1 (see the comment above WT_FILES)")
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("command", WT_COMMANDS)
def test_worktree_update_sigkill_long(tmp_path, command, request):
    server = request.getfixturevalue("server") if command in ("pull", "clone") else None
    outcomes = _worktree_trials(tmp_path, command, WT_LONG, server)
    assert sum(outcomes.values()) == WT_LONG
    assert any("(killed)" in k for k in outcomes), outcomes
