"""Concurrency: pvc processes racing on one repository, a daemon syncing while commits are
made, and two clones pushing to one branch. Real processes, real sqld."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for as _wait_for

from promptvc.remote.hrana import HranaClient
from promptvc.repo import Repo

pytestmark = pytest.mark.sqld
PVC = [sys.executable, "-m", "promptvc"]
PROCS: list[subprocess.Popen] = []
NON_FF = "error: non-fast-forward: origin/main has commits that your main does not have"


@pytest.fixture(autouse=True)
def no_leaks():
    yield
    left = [p for p in PROCS if p.poll() is None]
    for p in left:
        p.kill()
        p.wait()
    PROCS.clear()
    assert not left, f"processes left running: {[p.args for p in left]}"


def cli(cwd: Path, *args: str, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run([*PVC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    if check and p.returncode != 0:
        raise AssertionError(f"pvc {' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


wait_for = functools.partial(_wait_for, timeout=30.0)


def check_fsck(root: Path) -> None:
    repo = Repo.open(root)
    try:
        report = repo.fsck()
        assert report.ok, [str(p) for p in report.problems]
    finally:
        repo.close()


def head_of(root: Path) -> str | None:
    repo = Repo.open(root)
    try:
        return repo.head()
    finally:
        repo.close()


def log_ids(root: Path) -> list[str]:
    return [c["id"] for c in json.loads(cli(root, "log", "--json").stdout)]


def remote_head(url: str) -> str | None:
    with HranaClient(url) as c:
        rows = c.execute("SELECT target FROM refs WHERE name = 'refs/heads/main'").rows
    return rows[0][0] if rows else None


def remote_has(url: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with HranaClient(url) as c:
        for i in range(0, len(ids), 200):
            chunk = ids[i:i + 200]
            marks = ",".join("?" for _ in chunk)
            found |= {r[0] for r in c.execute(
                f"SELECT id FROM commits WHERE id IN ({marks})", tuple(chunk)).rows}
    return found


def new_repo(root: Path, files: dict[str, str]) -> None:
    root.mkdir(parents=True)
    cli(root, "init")
    for name, text in files.items():
        (root / name).write_text(text)
    cli(root, "add", *files)
    cli(root, "commit", "-m", "initial")


# -- two commits at once ----------------------------------------------------------------------
def test_two_commits_at_once(tmp_path):
    root = tmp_path / "r"
    new_repo(root, {"a.md": "a\n", "b.md": "b\n"})
    made: list[str] = []
    refusals: list[str] = []
    for rnd in range(20):
        text = {"a.md": f"a round {rnd}\n" * 50, "b.md": f"b round {rnd}\n" * 50}
        for name, t in text.items():
            (root / name).write_text(t)
        with_paths = rnd % 2 == 0  # even rounds: `commit FILE`; odd rounds: commit everything
        procs = []
        for name in text:
            args = ["commit", "--json", "-m", f"{name} round {rnd}"]
            args += [name] if with_paths else []
            procs.append(subprocess.Popen([*PVC, *args], cwd=root, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
            PROCS.append(procs[-1])
        locked = False
        for p in procs:
            out, err = p.communicate(timeout=60)
            PROCS.remove(p)
            assert "Traceback" not in err and "internal error" not in err, err
            if p.returncode == 0:
                made.append(json.loads(out)["id"])
                continue
            assert p.returncode == 1, (p.returncode, err)
            clear_lock = "locked" in err and "\nhint: " in err
            assert clear_lock or "nothing to commit" in err, f"unclear failure: {err!r}"
            assert not (with_paths and not clear_lock), f"a commit of its own file lost: {err}"
            locked = locked or clear_lock
            refusals.append(err)
        if locked:  # what a refused commit would have recorded is still in the working folder
            p = cli(root, "commit", "--json", "-m", f"retry {rnd}")
            made.append(json.loads(p.stdout)["id"])
        repo = Repo.open(root)
        try:  # nothing of either file was lost
            for name, t in text.items():
                assert repo.read("HEAD", name) == t.encode(), (rnd, name)
        finally:
            repo.close()
    check_fsck(root)
    ids = log_ids(root)
    assert set(made) <= set(ids), "a successful commit is missing from the log"
    assert len(ids) == len(made) + 1  # one line of history, nothing else
    assert cli(root, "status", "-s").stdout == ""
    print(f"\ntwo commits at once: {len(made)} commits in 20 rounds; refusals: "
          f"{[r.splitlines()[0] for r in refusals]}")


# -- commits while the daemon syncs -------------------------------------------------------------
def test_commits_during_daemon_sync(tmp_path, server):
    url = f"http://localhost:{server.http_port}"
    a, b = tmp_path / "a", tmp_path / "b"
    new_repo(a, {f"f{i}.md": f"f{i}\n" for i in range(3)} | {"other.md": "other\n"})
    cli(a, "remote", "add", "origin", url)
    cli(a, "config", "remote.origin.backoff", "0.05")
    cli(a, "push")
    cli(tmp_path, "clone", url, "b")
    cli(b, "config", "remote.origin.backoff", "0.05")
    log = tmp_path / "daemon.log"
    with open(log, "ab") as fh:
        d = subprocess.Popen([*PVC, "daemon", "run", "--no-autocommit", "--interval", "0.2",
                              "--debounce", "0.1"], cwd=a, stdout=fh, stderr=fh)
    PROCS.append(d)

    def state() -> dict:
        try:
            return json.loads((a / ".pvc" / "daemon.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    made: list[str] = []
    theirs: list[str] = []
    last: dict[str, str] = {}
    try:
        wait_for(lambda: state().get("pid") == d.pid and state().get("state") == "running",
                 what="daemon start")
        stop = threading.Event()

        def other_clone():  # gives the daemon's pulls something to merge
            k = 0
            while not stop.is_set():
                (b / "other.md").write_text(f"other {k}\n" * 20)
                theirs.append(json.loads(cli(b, "commit", "--json", "-m", f"b {k}").stdout)["id"])
                while cli(b, "push", check=False).returncode != 0:
                    cli(b, "pull")
                k += 1
                stop.wait(0.3)

        t = threading.Thread(target=other_clone)
        t.start()
        try:
            for i in range(40):
                last[f"f{i % 3}.md"] = f"edit {i}\n" * (10 + i)
                (a / f"f{i % 3}.md").write_text(last[f"f{i % 3}.md"])
                p = cli(a, "commit", "--json", "-m", f"cli {i}", f"f{i % 3}.md", check=False)
                assert p.returncode == 0, p.stderr
                made.append(json.loads(p.stdout)["id"])
                if i % 10 == 5:  # a fetch beside the daemon waits for the replica lock
                    cli(a, "fetch")
                time.sleep(0.1)  # spread the commits over several sync rounds
        finally:
            stop.set()
            t.join()
        wait_for(lambda: state().get("pending_commits") == 0 and remote_head(url) == head_of(a)
                 and set(theirs) <= set(log_ids(a)),
                 timeout=30, what="everything pushed and pulled")
        assert state()["state"] == "running", state()
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=20)
        PROCS.remove(d)
    assert d.returncode == 0, log.read_text()[-3000:]
    check_fsck(a)
    assert set(made) <= set(log_ids(a))
    assert remote_has(url, made + theirs) == set(made + theirs), "a commit was never pushed"
    for name, text in last.items():  # the working files are the last committed ones
        assert (a / name).read_text() == text
    assert cli(a, "status", "-s").stdout == ""
    print(f"\ndaemon sync: {len(made)} CLI commits + {len(theirs)} from another clone, "
          f"all pushed; daemon syncs: {state().get('syncs')}, failures: "
          f"{state().get('sync_failures')}")
    for line in log.read_text().splitlines():
        if "WARNING" in line or "ERROR" in line:
            print("   daemon:", line)


# -- two clones pushing to one branch -----------------------------------------------------------
def test_two_clones_push_to_one_branch(tmp_path, server):
    url = f"http://localhost:{server.http_port}"
    a, b = tmp_path / "a", tmp_path / "b"
    new_repo(a, {"a.md": "a\n", "b.md": "b\n"})
    cli(a, "remote", "add", "origin", url)
    cli(a, "push")
    cli(tmp_path, "clone", url, "b")
    for root in (a, b):
        cli(root, "config", "remote.origin.backoff", "0.05")
    made: dict[str, list[str]] = {"a": [], "b": []}
    failures: list[str] = []
    errors: list[BaseException] = []
    stats = {"pushes": 0, "refused": 0, "pulls": 0}
    lock = threading.Lock()
    end = time.monotonic() + 60

    def loop(root: Path, name: str) -> None:
        try:
            k = 0
            while time.monotonic() < end:
                (root / f"{name}.md").write_text(f"{name} edit {k}\n" * (5 + k % 7))
                p = cli(root, "commit", "--json", "-m", f"{name} {k}")
                made[name].append(json.loads(p.stdout)["id"])
                for _ in range(50):
                    p = cli(root, "push", check=False)
                    with lock:
                        stats["pushes"] += 1
                    if p.returncode == 0:
                        break
                    with lock:
                        stats["refused"] += 1
                        failures.append(p.stderr)
                    if not p.stderr.startswith(NON_FF):
                        continue  # recorded; the assertion below reports it
                    q = cli(root, "pull", check=False)
                    with lock:
                        stats["pulls"] += 1
                    if q.returncode != 0:
                        with lock:
                            failures.append(q.stderr)
                else:
                    raise AssertionError(f"{name} could not push in 50 attempts")
                k += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(r, n)) for r, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for root in (a, b):
        cli(root, "pull")
    assert head_of(a) == head_of(b) == remote_head(url)
    everything = made["a"] + made["b"]
    assert remote_has(url, everything) == set(everything), "a commit never reached the remote"
    for root in (a, b):
        check_fsck(root)
        assert set(everything) <= set(log_ids(root))
        assert (root / "a.md").read_text() == (a / "a.md").read_text()
        assert (root / "b.md").read_text() == (b / "b.md").read_text()
    unclear = [f for f in failures if not f.startswith(NON_FF)
               or "hint: run `pvc pull origin main` first" not in f]
    assert not unclear, f"failures other than the retryable non-fast-forward: {unclear}"
    print(f"\ntwo clones, 60 s: {len(made['a'])} + {len(made['b'])} commits, {stats}")


def test_commit_blocked_past_the_busy_timeout_gets_the_clear_error(tmp_path):
    """A writer that holds the repository longer than the busy timeout (10 s): the waiting
    commit gives up with the clear "locked" error and a hint, and nothing is damaged."""
    import sqlite3

    root = tmp_path / "r"
    new_repo(root, {"a.md": "a\n"})
    (root / "a.md").write_text("a2\n")
    before = head_of(root)
    holder = sqlite3.connect(root / ".pvc" / "pvc.db", isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        t = time.monotonic()
        p = cli(root, "commit", "-m", "blocked", check=False, timeout=30)
        waited = time.monotonic() - t
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == 1, p.stdout + p.stderr
    assert "locked" in p.stderr and "\nhint: " in p.stderr, p.stderr
    assert 9 < waited < 20
    assert head_of(root) == before
    check_fsck(root)
    cli(root, "commit", "-m", "now")  # and it works once the other writer is done
    print(f"\nblocked commit: {p.stderr.strip()!r} after {waited:.1f} s")


def test_commit_while_a_merge_is_computed_is_not_reverted(tmp_path, monkeypatch):
    from promptvc import treemerge
    from promptvc.errors import PvcError

    root = tmp_path / "r"
    new_repo(root, {"f0.md": "f0 v1\n", "other.md": "other v1\n"})
    repo = Repo.open(root)
    try:
        repo.create_branch("feature")  # what a pull brings: a change to another file
        repo.switch("feature")
        (root / "other.md").write_text("other from feature\n")
        repo.commit_changes("feature", cwd=root)
        repo.switch("main")
        (root / "f0.md").write_text("f0 v2\n")
        repo.commit_changes("main", cwd=root)
        compute = treemerge.merge_trees

        refusals = []

        def merge_trees_racing_a_commit(*args, **kwargs):
            out = compute(*args, **kwargs)
            (root / "f0.md").write_text("f0 v3, committed during the merge\n")
            # a real process, while we merge: it must wait for the merge (the merge holds
            # the write lock from reading HEAD to moving it), so with a short busy timeout
            # it is refused cleanly instead of landing in the middle
            p = cli(root, "commit", "-m", "concurrent", check=False)
            refusals.append((p.returncode, p.stderr))
            return out

        monkeypatch.setenv("PVC_BUSY_TIMEOUT_MS", "500")
        monkeypatch.setattr(treemerge, "merge_trees", merge_trees_racing_a_commit)
        try:
            repo.merge("feature")
        except PvcError:
            pass  # refusing the merge (the file changed under it) is fine too
        # the edit made during the merge is still there, and commits now
        code, err = refusals[0]
        assert code == 1 and "is locked by another pvc process" in err, err
        assert (root / "f0.md").read_text() == "f0 v3, committed during the merge\n"
        cli(root, "commit", "-m", "after the merge")
        head = repo.head()
        problems = [str(p) for p in repo.fsck().problems]
        st = repo.status()
        committed = repo.read(head, "f0.md")
    finally:
        repo.close()
    assert problems == []
    assert committed == b"f0 v3, committed during the merge\n", "the concurrent edit was lost"
    assert st.clean
