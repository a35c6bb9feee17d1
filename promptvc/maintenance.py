"""`pvc gc`: the repository's housekeeping.

Three jobs, each safe to interrupt (every change is one transaction, and VACUUM is atomic):

- reflog expiry: entries older than ``gc.reflog_expire`` days (default 90, ``never`` keeps
  everything) are dropped, except the newest entry of each ref, so every ref keeps its last
  move and nothing younger than the limit is ever touched;
- re-delta (``aggressive``): every version's stored form is chosen again under today's
  policy (``core.max_chain_length``, ``core.max_chain_ratio``): a snapshot that could be a
  small diff against its parent becomes one, a chain that grew past the limits gets a new
  snapshot. Ids, contents and parent links do not change; each rewritten version is
  rebuilt and checked against its SHA-256 before its transaction commits;
- VACUUM and the planner's statistics, and the search index's merge of its segments.

Decisions depend on the data and the settings only; the one clock read is "now" for the
reflog cut-off, which callers may pass in.

Layer: over the store, through the repository it is given; promptvc.errors and delta.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable

from .errors import ConfigError

DEFAULT_REFLOG_EXPIRE_DAYS = 90
BATCH = 1000  # versions rewritten per transaction


@dataclass
class GcReport:
    reflog_expired: int = 0
    reflog_expire_days: int | None = DEFAULT_REFLOG_EXPIRE_DAYS  # None: never
    versions_checked: int = 0
    to_diff: int = 0  # snapshots rewritten as diffs
    to_snapshot: int = 0  # diffs rewritten as snapshots (their chain was too long)
    chains_updated: int = 0  # only the chain counters changed
    bytes_before: int = 0
    bytes_after: int = 0
    vacuumed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"ok": True, "reflog_expired": self.reflog_expired,
                "reflog_expire_days": self.reflog_expire_days,
                "versions_checked": self.versions_checked,
                "snapshots_to_diffs": self.to_diff, "diffs_to_snapshots": self.to_snapshot,
                "chains_updated": self.chains_updated,
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
                "vacuumed": self.vacuumed}


def reflog_expire_days(config, given: str | None = None) -> int | None:
    """The reflog expiry in days from GIVEN or the config (`gc.reflog_expire`): a whole
    number of days (at least 1), or None for `never`."""
    raw = given if given is not None else config.get("gc", "reflog_expire")
    if raw is None:
        return DEFAULT_REFLOG_EXPIRE_DAYS
    text = str(raw).strip().lower()
    if text == "never":
        return None
    if text.endswith(".days"):  # git's spelling: 90.days
        text = text[:-5]
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        source = "--reflog-expire" if given is not None else "config value gc.reflog_expire"
        raise ConfigError(f"{source} = {raw!r} is not a number of days (1 or more) or 'never'",
                          hint="for example `pvc config gc.reflog_expire 90`")
    return days


def _parse_at(at: str) -> _dt.datetime | None:
    try:
        when = _dt.datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.astimezone()  # a naive date is local time, as it was written
    return when


def expire_reflog(repo, days: int | None, now: _dt.datetime | None = None) -> int:
    """Drop reflog entries older than DAYS (never the newest of a ref, never one whose date
    cannot be read); the number dropped."""
    if days is None:
        return 0
    now = now or _dt.datetime.now().astimezone()
    cutoff = now - _dt.timedelta(days=days)
    store = repo.store
    old = []
    for seq, at in store.reflog_expiry_candidates():
        when = _parse_at(at)
        if when is not None and when < cutoff:
            old.append(seq)
    if old:
        with store.transaction():
            store.delete_reflog_entries(old)
    return len(old)


def redelta(repo, report: GcReport, progress: Callable[[int, int], None] | None = None) -> None:
    """Choose every version's stored form again under the current policy (see the module
    docstring). Parents are planned before their children, whatever order they arrived in."""
    from .delta import make_delta

    store, versions = repo.store, repo.versions
    policy = versions.policy
    links = {vid: (parent, storage, clen, cbytes)
             for vid, parent, storage, clen, cbytes in store.iter_version_links()}
    total = len(links)
    done: dict[str, tuple[int, int]] = {}  # vid -> (chain_len, chain_bytes) as now stored
    pending: list[tuple] = []

    def flush() -> None:
        if not pending:
            return
        with store.transaction():
            for op in pending:
                if op[0] == "diff":
                    _, vid, codec, data, clen, cbytes = op
                    store.replace_with_diff(vid, codec, data, clen, cbytes)
                elif op[0] == "snapshot":
                    store.replace_with_snapshot(op[1], op[2], policy)
                else:
                    store.update_chain(op[1], op[2], op[3])
            versions.forget()
            for op in pending:  # every rewritten version rebuilds to its hash, or nothing commits
                if op[0] != "chain":
                    versions.get(op[1])
        pending.clear()

    def plan(vid: str) -> None:
        parent, storage, clen, cbytes = links[vid]
        content = versions.get(vid)
        if parent is None or parent not in done:  # a root (or a damaged, cyclic link)
            want = ("snapshot", 0, 0)
        else:
            p_len, p_bytes = done[parent]
            diff, _, _ = make_delta(versions.get(parent), content)
            if policy.stores_diff(len(diff), len(content), p_len, p_bytes):
                want = ("diff", p_len + 1, p_bytes + len(diff))
            else:
                want = ("snapshot", 0, 0)
        done[vid] = want[1:]
        if want[0] != storage:
            if want[0] == "diff":
                codec, data = versions.encode(diff)
                pending.append(("diff", vid, codec, data, want[1], want[2]))
                report.to_diff += 1
            else:
                pending.append(("snapshot", vid, content))
                report.to_snapshot += 1
        elif (clen, cbytes) != want[1:]:
            pending.append(("chain", vid, want[1], want[2]))
            report.chains_updated += 1
        report.versions_checked += 1
        if len(pending) >= BATCH:
            flush()
        if progress is not None:
            progress(report.versions_checked, total)

    for vid in links:  # stored order; a parent stored later is planned first
        if vid in done:
            continue
        line = [vid]
        while True:
            parent = links[line[-1]][0]
            if parent is None or parent not in links or parent in done or parent in line:
                break
            line.append(parent)
        for v in reversed(line):
            if v not in done:
                plan(v)
    flush()


def gc(repo, *, aggressive: bool = False, reflog_expire: str | None = None,
       vacuum: bool = True, now: _dt.datetime | None = None,
       progress: Callable[[int, int], None] | None = None) -> GcReport:
    """Run the housekeeping jobs (see the module docstring) and report what they did."""
    report = GcReport()
    days = reflog_expire_days(repo.config, reflog_expire)
    report.reflog_expire_days = days
    store = repo.store
    report.bytes_before = store.database_bytes()
    report.reflog_expired = expire_reflog(repo, days, now)
    if aggressive:
        redelta(repo, report, progress)
    if not store.readonly:
        try:
            store.search_index().optimize()
        except Exception:  # noqa: BLE001 - derived data: `pvc search --reindex` rebuilds it
            report.notes.append("the search index could not be optimized; "
                                "`pvc search --reindex` rebuilds it")
    if vacuum:
        store.vacuum()
        report.vacuumed = True
    report.bytes_after = store.database_bytes()
    return report
