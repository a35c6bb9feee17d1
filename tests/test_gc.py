"""`pvc gc`: reflog expiry, re-delta, VACUUM; ids, contents and history unchanged."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from promptvc.repo import Repo


def _text(i: int) -> str:
    lines = [f"Line {n} of the support prompt: be kind, be brief, cite the policy." for n in range(40)]
    lines[i % 40] = f"Line {i % 40} was edited in version {i}."
    return "\n".join(lines) + "\n"


def _history(pvc, repo, n: int, dates=None) -> None:
    for i in range(n):
        (repo / "a.md").write_text(_text(i))
        assert pvc("add", "a.md").exit_code == 0
        args = ["commit", "-m", f"v{i}"]
        if dates:
            args += ["--date", dates[i]]
        assert pvc(*args).exit_code == 0, pvc(*args).output


def _chain(pvc) -> list[dict]:
    out = pvc("debug", "chain", "a.md", "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _everything(pvc, n: int) -> dict:
    """What a user sees of the history: log, every version's content, reflog."""
    log = json.loads(pvc("log", "--json").stdout)
    shows = [pvc("show", f"HEAD~{k}:a.md").stdout for k in range(n)]
    return {"log": log, "shows": shows, "reflog": pvc("reflog").stdout}


def test_aggressive_turns_snapshots_into_diffs_and_keeps_every_id(repo, pvc):
    assert pvc("config", "core.max_chain_length", "2").exit_code == 0
    _history(pvc, repo, 12)
    before = _chain(pvc)
    assert [v["storage"] for v in before].count("snapshot") == 4  # every third version
    seen = _everything(pvc, 12)

    assert pvc("config", "core.max_chain_length", "16").exit_code == 0
    out = pvc("gc", "--aggressive", "--json")
    assert out.exit_code == 0, out.output
    rep = json.loads(out.stdout)
    assert (rep["snapshots_to_diffs"], rep["diffs_to_snapshots"]) == (3, 0)
    assert rep["versions_checked"] == 24  # 12 file versions and 12 trees
    after = _chain(pvc)
    assert [v["version"] for v in after] == [v["version"] for v in before]
    assert [v["storage"] for v in after] == ["snapshot"] + ["diff"] * 11
    assert [v["chain_len"] for v in after] == list(range(12))
    assert _everything(pvc, 12) == seen
    assert pvc("fsck").exit_code == 0
    # a second run finds nothing left to do
    again = json.loads(pvc("gc", "--aggressive", "--json").stdout)
    assert (again["snapshots_to_diffs"], again["diffs_to_snapshots"], again["chains_updated"]) == (0, 0, 0)


def test_aggressive_cuts_chains_that_exceed_a_lowered_limit(repo, pvc):
    _history(pvc, repo, 10)
    assert [v["storage"] for v in _chain(pvc)] == ["snapshot"] + ["diff"] * 9
    seen = _everything(pvc, 10)
    assert pvc("config", "core.max_chain_length", "3").exit_code == 0
    rep = json.loads(pvc("gc", "--aggressive", "--json").stdout)
    assert rep["diffs_to_snapshots"] == 2
    assert [v["chain_len"] for v in _chain(pvc)] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert _everything(pvc, 10) == seen
    assert pvc("fsck").exit_code == 0


def test_interrupted_redelta_loses_nothing(repo, pvc, monkeypatch):
    from promptvc import maintenance
    from promptvc.store.db import Store

    assert pvc("config", "core.max_chain_length", "2").exit_code == 0
    _history(pvc, repo, 12)
    seen = _everything(pvc, 12)
    storages = [v["storage"] for v in _chain(pvc)]
    assert pvc("config", "core.max_chain_length", "16").exit_code == 0

    calls = []

    def dies(self, *args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill in the middle of a batch
        return original(self, *args)

    original = Store.replace_with_diff
    r = Repo(repo)
    with monkeypatch.context() as m:
        m.setattr(maintenance, "BATCH", 1000)
        m.setattr(Store, "replace_with_diff", dies)
        with pytest.raises(KeyboardInterrupt):
            maintenance.gc(r, aggressive=True)
    r.close()
    assert [v["storage"] for v in _chain(pvc)] == storages  # the batch rolled back whole
    assert _everything(pvc, 12) == seen
    assert pvc("fsck").exit_code == 0
    assert pvc("gc", "--aggressive").exit_code == 0  # and the next run finishes the job
    assert [v["storage"] for v in _chain(pvc)].count("snapshot") == 1


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


def _moves(repo, ref: str, when: list[str]) -> None:
    """Reflog entries of REF at the dates WHEN (a ref that moved long ago)."""
    r = Repo(repo)
    head = r.head()
    with r.store.transaction():
        for at in when:
            r.store.append_reflog(ref, head, head, "Ann <a@x>", at, "test: moved")
    r.close()


def test_an_import_of_old_commits_is_not_expired(repo, pvc):
    old = ["2020-01-0%dT00:00:00+00:00" % d for d in range(1, 4)]
    _history(pvc, repo, 3, old)  # commits dated 2020, as an import makes them
    assert json.loads(pvc("gc", "--json").stdout)["reflog_expired"] == 0
    assert len(pvc("reflog").stdout.splitlines()) == 3


def test_reflog_expiry_keeps_recent_entries_and_each_refs_newest(repo, pvc):
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
    days = [400, 300, 200, 91, 89, 10]
    _history(pvc, repo, 1)
    _moves(repo, "refs/heads/side", [_iso(now - dt.timedelta(days=d)) for d in days])
    # an old tag: its only entry is its newest, so it stays whatever its age
    _moves(repo, "refs/tags/old", [_iso(now - dt.timedelta(days=1000))])
    r = Repo(repo)
    from promptvc.maintenance import gc

    rep = gc(r, now=now, vacuum=False)
    kept = [(e.ref, e.at) for e in r.store.reflog()]
    r.close()
    assert rep.reflog_expired == 4  # 400, 300, 200 and 91 days old
    assert [at for ref, at in kept if ref == "refs/heads/side"] == [
        _iso(now - dt.timedelta(days=d)) for d in (10, 89)]
    assert [ref for ref, _ in kept].count("refs/tags/old") == 1
    assert [ref for ref, _ in kept].count("refs/heads/main") == 1  # made now: kept


def test_reflog_expiry_setting_and_never(repo, pvc):
    now = dt.datetime.now().astimezone()
    _history(pvc, repo, 1)
    _moves(repo, "refs/heads/main", [_iso(now - dt.timedelta(days=d)) for d in (50, 40, 1)])
    assert json.loads(pvc("gc", "--json").stdout)["reflog_expired"] == 0  # within 90 days
    assert pvc("config", "gc.reflog_expire", "never").exit_code == 0
    out = pvc("gc", "--reflog-expire", "30")  # the option wins over the setting
    assert out.exit_code == 0, out.output
    # the commit's own entry (older seq) and the 50- and 40-day moves are before the newest;
    # the commit's is today's, so two go
    assert out.stdout.splitlines()[0] == "reflog: expired 2 entries older than 30 days"
    assert len(pvc("reflog").stdout.splitlines()) == 2
    assert pvc("gc").stdout.splitlines()[0] == "reflog: kept every entry (expiry: never)"


def test_bad_expiry_values(repo, pvc):
    out = pvc("gc", "--reflog-expire", "soon")
    assert out.exit_code == 2
    assert "Invalid value for '--reflog-expire': 'soon' is not a number of days" in out.stderr
    assert pvc("config", "gc.reflog_expire", "3 weeks").exit_code == 1  # refused when set
    with (repo / ".pvc" / "config").open("a") as fh:  # and when read from the file
        fh.write("[gc]\nreflog_expire = 3 weeks\n")
    out = pvc("gc", "--json")
    assert out.exit_code == 1
    err = json.loads(out.stdout)["error"]
    assert (err["code"], err["message"]) == (
        "config", "config value gc.reflog_expire = '3 weeks' is not a number of days (1 or more) "
        "or 'never'")


def test_vacuum_gives_back_free_pages(repo, pvc):
    big = "".join(f"paragraph{i} " + " ".join(f"w{i}x{j}" for j in range(20)) + "\n"
                  for i in range(2000))  # 42,000 distinct words: a large full-text index
    (repo / "big.md").write_text(big)
    assert pvc("add", "big.md").exit_code == 0
    assert pvc("commit", "-m", "big").exit_code == 0
    r = Repo(repo)
    r.store.search_index().clear_text()  # frees the pages of its token lists
    free = r.store.free_bytes()
    r.close()
    assert free > 100_000
    rep = json.loads(pvc("gc", "--json").stdout)
    assert rep["vacuumed"] is True
    assert rep["bytes_before"] - rep["bytes_after"] >= free
    assert pvc("show", "HEAD:big.md").stdout == big
