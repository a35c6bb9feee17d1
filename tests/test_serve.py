"""Serving prompts to applications, and A/B experiments across branch databases."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptvc.experiments import assign, parse_split
from promptvc.serve import PromptSource, RenderError, ServeError
from promptvc.stats import Moments, t_two_sided_p, two_proportions, welch
# -- assignment and statistics (pure) -------------------------------------------------------
def test_assignment_is_stable_and_matches_the_split():
    arms, split = ["control", "b"], parse_split("70/30", 2)
    counts = {"control": 0, "b": 0}
    for u in range(100_000):
        counts[assign("exp", f"user-{u}", arms, split)] += 1
    # binomial sd at n=100k, p=0.3 is ~145: 5 sd tolerance
    assert abs(counts["b"] - 30_000) < 725, counts
    # stable across calls and processes
    here = [assign("exp", f"user-{u}", arms, split) for u in range(50)]
    code = ("from promptvc.experiments import assign, parse_split;"
            "print(','.join(assign('exp', f'user-{u}', ['control','b'], parse_split('70/30', 2))"
            " for u in range(50)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip().split(",")
    assert here == other
    # a different experiment name reshuffles
    assert [assign("exp2", f"user-{u}", arms, split) for u in range(50)] != here


def test_split_parsing_errors():
    from promptvc.experiments import ExperimentError

    assert parse_split(None, 4) == [25.0] * 4
    assert parse_split("1/3", 2) == [25.0, 75.0]
    with pytest.raises(ExperimentError, match="has 3 parts for 2 arms"):
        parse_split("1/2/3", 2)
    with pytest.raises(ExperimentError, match="not numbers"):
        parse_split("a/b", 2)


def test_statistics_against_known_values():
    assert t_two_sided_p(2.0, 10) == pytest.approx(0.07339, abs=1e-4)
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=1e-3)
    # Welch: a = [1,2,3,4,5], b = [2,4,6,8,10]
    a = Moments(5, 15.0, 55.0, 1, 5)
    b = Moments(5, 30.0, 220.0, 2, 10)
    diff, t, p = welch(a, b)
    assert diff == 3.0
    assert t == pytest.approx(3 / math.sqrt(2.5 / 5 + 10 / 5))
    df = (0.5 + 2) ** 2 / (0.25 / 4 + 4 / 4)
    assert p == pytest.approx(t_two_sided_p(t, df))
    # two proportions: 45/100 vs 60/100 -> z = 2.12, p = 0.034
    d, z, p2 = two_proportions(Moments(100, 45, 45, 0, 1), Moments(100, 60, 60, 0, 1))
    assert d == pytest.approx(0.15) and z == pytest.approx(2.1243, abs=1e-3)
    assert p2 == pytest.approx(0.0336, abs=1e-3)
    assert Moments(3, 2, 2, 0, 1).is_rate and not Moments(3, 1.5, 1.25, 0, 1).is_rate


# -- local source -----------------------------------------------------------------------------
@pytest.fixture
def local_repo(repo, pvc):
    (repo / "p.md").write_text("Hello {{ name }}, how can I help with {{topic}}?\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "one")
    pvc("tag", "production")
    pvc("switch", "-c", "exp-b")
    (repo / "p.md").write_text("Hi {{ name }}!\n")
    pvc("commit", "-m", "b")
    pvc("switch", "main")
    return repo


def test_local_get_render_and_errors(local_repo):
    with PromptSource.local(local_repo) as src:
        p = src.get("p.md")
        assert p.content == "Hello {{ name }}, how can I help with {{topic}}?\n"
        assert p.ref == "production" and p.stale_seconds == 0.0
        assert src.render("p.md", name="Ada", topic="billing") == \
            "Hello Ada, how can I help with billing?\n"
        with pytest.raises(RenderError) as err:
            src.render("p.md", name="Ada")
        assert err.value.message == "prompt p.md needs variable(s) topic"
        assert src.get("p.md", ref="exp-b").content == "Hi {{ name }}!\n"
        with pytest.raises(ServeError, match="does not exist"):
            src.get("nope.md")
        with pytest.raises(ServeError, match="no ref 'nosuch'"):
            src.get("p.md", ref="nosuch")


def test_local_experiment_record_report_promote(local_repo, pvc):
    r = pvc("experiment", "create", "tone", "--arm", "control=main", "--arm", "b=exp-b",
            "--split", "50/50")
    assert r.stdout == "Created experiment tone: control=main 50% / b=exp-b 50%\n"
    r = pvc("experiment", "create", "tone", "--arm", "control=main", "--arm", "b=exp-b")
    assert r.exit_code == 1 and "already exists" in r.stderr
    r = pvc("experiment", "create", "x", "--arm", "control=main", "--arm", "b=nope")
    assert r.stderr == ("error: arm 'b' names branch 'nope', which does not exist\n"
                        "hint: create it with `pvc branch nope`\n")
    with PromptSource.local(local_repo) as src:
        seen = {}
        for u in range(40):
            arm = src.assign("tone", str(u))
            p = src.get("p.md", experiment="tone", unit=str(u))
            assert p.arm == arm
            seen[arm] = p.content
            src.record("tone", str(u), "converted", 1 if u % 4 == 0 else 0)
        assert seen == {"control": "Hello {{ name }}, how can I help with {{topic}}?\n",
                        "b": "Hi {{ name }}!\n"}
    data = json.loads(pvc("experiment", "report", "tone", "--json").stdout)
    rows = data["buckets"][0]["rows"]
    assert sum(r["events"] for r in rows) == 40
    assert sum(data["buckets"][0]["units"].values()) == 40
    assert {r["test"] for r in rows} == {"two-proportion"}
    r = pvc("experiment", "promote", "tone", "b")
    assert r.exit_code == 0, r.output
    assert (local_repo / "p.md").read_text() == "Hi {{ name }}!\n"
    with PromptSource.local(local_repo) as src:
        assert src.get("p.md").content == "Hi {{ name }}!\n"  # production moved
        assert src.assign("tone", "anyone") == "b"  # stopped: everyone gets the winner
    log = json.loads(pvc("reflog", "production", "--json").stdout)
    assert log[0]["action"] == ("tag: moved at HEAD (experiment tone: promoted arm b, "
                                "branch exp-b)")
    assert json.loads(pvc("experiment", "show", "tone", "--json").stdout)["winner"] == "b"


# -- remote source across branch databases -------------------------------------------------------
RECORDER = """
import sys
from promptvc.serve import PromptSource
src = PromptSource.remote(sys.argv[1], cache_dir=sys.argv[2], interval=0.3, background=False)
for u in range(int(sys.argv[3]), int(sys.argv[4])):
    src.record("tone", f"u{u}", "converted", u % 2)
src.flush()  # raises (exit 1) if the events could not be sent; close() would keep them queued
assert src.pending_events() == 0
src.close()
"""


def remote_experiment(tmp_path, pvc, monkeypatch, server) -> tuple[str, Path]:
    """A repository in tmp_path/work pushed to SERVER, with experiment `tone`: arm control
    on main ("control prompt"), arm b on exp-b ("arm B prompt", a branch database)."""
    url = f"http://localhost:{server.http_port}"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    pvc("init")
    Path("p.md").write_text("control prompt\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "control")
    pvc("tag", "production")
    pvc("remote", "add", "origin", url, "--admin-url", server.admin_url)
    assert pvc("push", "--tags").exit_code == 0
    assert pvc("branch", "exp-b").exit_code == 0
    pvc("switch", "exp-b")
    Path("p.md").write_text("arm B prompt\n")
    pvc("commit", "-m", "arm b")
    assert pvc("push").exit_code == 0
    pvc("switch", "main")
    assert pvc("experiment", "create", "tone", "--arm", "control=main",
               "--arm", "b=exp-b").exit_code == 0
    return url, work


@pytest.mark.sqld
def test_remote_experiment_end_to_end(tmp_path, pvc, monkeypatch, server, canary_token):
    url, work = remote_experiment(tmp_path, pvc, monkeypatch, server)
    cache = tmp_path / "cache"
    src = PromptSource.remote(url, cache_dir=cache, interval=0.3)
    try:
        assert src.get("p.md").content == "control prompt\n"
        contents = {src.get("p.md", experiment="tone", unit=f"u{u}").content for u in range(20)}
        assert contents == {"control prompt\n", "arm B prompt\n"}  # arm b from its database
        # outcomes from several processes
        procs = [subprocess.Popen([sys.executable, "-c", RECORDER, url, str(tmp_path / f"c{i}"),
                                   str(i * 50), str(i * 50 + 50)]) for i in range(3)]
        for p in procs:
            assert p.wait(60) == 0
        data = json.loads(pvc("experiment", "report", "tone", "--json").stdout)
        assert sum(r["events"] for b in data["buckets"] for r in b["rows"]) == 150
        # promote: the application sees the new production prompt within the interval
        assert pvc("experiment", "promote", "tone", "b").exit_code == 0
        t = time.monotonic()
        while src.get("p.md").content != "arm B prompt\n":
            assert time.monotonic() - t < 5, "promotion not visible within 5 s"
            time.sleep(0.05)
        assert src.staleness() is not None and src.staleness() < 5
    finally:
        src.close()
    # offline start from the last synced state; outcomes wait in the outbox
    server.stop()
    src = PromptSource.remote(url, cache_dir=cache, interval=0.3, timeout=1)
    try:
        assert src.get("p.md").content == "arm B prompt\n"
        src.record("tone", "late-unit", "converted", 1)
        assert src.pending_events() == 1
    finally:
        src.close()
    again = PromptSource.remote(url, cache_dir=cache, background=False)
    assert again.pending_events() == 1  # survives the process
    again._outbox.close()
    again._outbox = None
    again._main.close()
    server.start(server.db_path, host=server.host, http_port=server.http_port,
                 admin_port=server.admin_port, grpc_port=server.grpc_port, die_with_parent=True)
    src = PromptSource.remote(url, cache_dir=cache, background=False)
    assert src.flush() == 1
    src.close()


@pytest.mark.sqld
def test_a_send_that_gets_no_answer_is_retried_once_and_not_doubled(tmp_path, pvc, monkeypatch,
                                                                     server):
    from promptvc.remote import hrana

    url, work = remote_experiment(tmp_path, pvc, monkeypatch, server)
    src = PromptSource.remote(url, cache_dir=tmp_path / "cache", background=False)
    real = hrana.HranaClient.batch
    calls = []

    def lost_answer(client, statements):
        calls.append(len(statements))
        results = real(client, statements)
        if len(calls) == 1:  # the batch landed, but its answer never came back
            raise hrana.RemoteTimeout("no answer from the server (injected)")
        return results

    monkeypatch.setattr(hrana.HranaClient, "batch", lost_answer)
    try:
        src.record("tone", "u1", "converted", 1)
        src.record("tone", "u2", "converted", 0)
        assert src.flush() == 2
        assert src.pending_events() == 0
    finally:
        src.close()
    assert len(calls) == 2  # sent once more after the lost answer
    monkeypatch.undo()
    monkeypatch.chdir(work)
    data = json.loads(pvc("experiment", "report", "tone", "--json").stdout)
    assert sum(r["events"] for b in data["buckets"] for r in b["rows"]) == 2  # not 4


@pytest.mark.sqld
def test_a_new_process_catches_up_at_start(tmp_path, pvc, monkeypatch, server):
    url = f"http://localhost:{server.http_port}"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    pvc("init")
    Path("p.md").write_text("v1\n")
    pvc("add", "p.md")
    pvc("commit", "-m", "one")
    pvc("tag", "production")
    pvc("remote", "add", "origin", url)
    assert pvc("push", "--tags").exit_code == 0
    cache = tmp_path / "cache"
    with PromptSource.remote(url, cache_dir=cache, interval=0.2, background=False) as src:
        assert src.get("p.md").content == "v1\n"
    Path("p.md").write_text("v2\n")
    pvc("commit", "-m", "two")
    pvc("tag", "-f", "production", "HEAD")
    assert pvc("push", "--tags").exit_code == 0
    time.sleep(0.3)  # the cache is now older than the interval
    with PromptSource.remote(url, cache_dir=cache, interval=0.2, background=False) as src:
        assert src.get("p.md").content == "v2\n"
