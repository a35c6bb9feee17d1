"""A/B experiments across branches (and branch databases): define, assign, report, stop
(promotion, which merges and publishes, is promptvc.porcelain.promote).

An experiment has arms (a name and the branch that serves it) and a traffic split. A unit
(a user, a session) is assigned to an arm by a hash of experiment name and unit id, so the
same unit gets the same arm in every process on every machine. Outcomes are events
(experiment, unit, arm, metric, value, time); a trigger keeps per-hour sums so reports read
a few summary rows, never the events.

The definitions and events live on the main database of the repository's remote when it
has one (so applications everywhere see them), else in the local repository.

Layer: domain logic over the store and the remote; it reads experiments through
promptvc.reader's ExperimentReader and imports the store and remote modules lazily.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import blake3

from .errors import ErrorCode, PvcError
from .stats import Moments, proportion_ci95, two_proportions, welch

if TYPE_CHECKING:
    from .reader import ExperimentReader

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


class ExperimentError(PvcError):
    error_code = ErrorCode.EXPERIMENT


@dataclass
class Experiment:
    name: str
    arms: list[tuple[str, str]]  # (arm, branch)
    split: list[float]  # percentages, summing to 100
    state: str = "running"
    created_at: str = ""
    stopped_at: str | None = None
    winner: str | None = None

    @classmethod
    def from_row(cls, row: tuple) -> "Experiment":
        arms = [(a["name"], a["branch"]) for a in json.loads(row[1])]
        return cls(row[0], arms, json.loads(row[2]), row[3], row[4], row[5], row[6])

    def to_row(self) -> tuple:
        return (self.name, json.dumps([{"name": a, "branch": b} for a, b in self.arms]),
                json.dumps(self.split), self.state, self.created_at, self.stopped_at, self.winner)

    def to_json(self) -> dict:
        return {"name": self.name, "arms": [{"name": a, "branch": b} for a, b in self.arms],
                "split": self.split, "state": self.state, "created_at": self.created_at,
                "stopped_at": self.stopped_at, "winner": self.winner}

    def branch_of(self, arm: str) -> str:
        for a, b in self.arms:
            if a == arm:
                return b
        raise ExperimentError(f"experiment '{self.name}' has no arm '{arm}'",
                              hint="arms: " + ", ".join(a for a, _ in self.arms))


def assign(experiment: str, unit: str, arms: list[str], split: list[float]) -> str:
    """The arm of UNIT: blake3(experiment, unit) -> a point in [0, 100) -> the split."""
    h = blake3.blake3(f"{experiment}\0{unit}".encode()).digest(8)
    point = int.from_bytes(h, "big") / 2**64 * 100
    acc = 0.0
    for arm, share in zip(arms, split):
        acc += share
        if point < acc:
            return arm
    return arms[-1]


def parse_arms(specs: list[str]) -> list[tuple[str, str]]:
    arms = []
    for spec in specs:
        name, sep, branch = spec.partition("=")
        if not sep or not name or not branch:
            raise ExperimentError(f"arm '{spec}' is not NAME=BRANCH",
                                  hint="for example: --arm control=main --arm b=exp-b")
        if not _NAME.match(name):
            raise ExperimentError(f"'{name}' is not a valid arm name",
                                  hint="use letters, digits, '.', '_' and '-'")
        arms.append((name, branch))
    if len(arms) < 2:
        raise ExperimentError("an experiment needs at least two arms",
                              hint="for example: --arm control=main --arm b=exp-b")
    if len({a for a, _ in arms}) != len(arms):
        raise ExperimentError("two arms have the same name", hint="give each arm its own name")
    return arms


def parse_split(text: str | None, n: int) -> list[float]:
    if not text:
        return [100.0 / n] * n
    try:
        parts = [float(p) for p in text.split("/")]
    except ValueError:
        raise ExperimentError(f"split '{text}' is not numbers separated by '/'",
                              hint="for example: --split 50/50 or --split 90/10") from None
    if len(parts) != n:
        raise ExperimentError(f"split '{text}' has {len(parts)} parts for {n} arms",
                              hint="give one share per arm, in the order of --arm")
    if any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ExperimentError(f"split '{text}' must be non-negative and not all zero",
                              hint="for example: --split 50/50")
    total = sum(parts)
    return [p * 100.0 / total for p in parts]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ExperimentError(f"'{name}' is not a valid experiment name",
                              hint="use letters, digits, '.', '_' and '-' (64 at most)")
    return name


# -- reports ------------------------------------------------------------------------------
def _bucket(bucket_hour: str, by: str) -> str:
    if by == "hour":
        return bucket_hour + ":00"
    if by == "day":
        return bucket_hour[:10]
    if by == "week":
        d = datetime.fromisoformat(bucket_hour[:10])
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return "all"


def report(exp: Experiment, summary_rows: list[tuple], unit_rows: list[tuple],
           by: str | None = None) -> dict:
    """Per arm and metric: units, events, mean and 95% interval, difference to control
    (the first arm) with Welch's t-test for means or a two-proportion test for rates."""
    by = by or "all"
    arms = [a for a, _ in exp.arms]
    control = arms[0]
    # aggregate the hourly sums into the requested buckets
    agg: dict[tuple[str, str, str], Moments] = {}
    for arm, metric, bucket, n, total, total_sq, vmin, vmax in summary_rows:
        key = (_bucket(bucket, by), arm, metric)
        m = agg.get(key)
        if m is None:
            agg[key] = Moments(n, total, total_sq, vmin, vmax)
        else:
            m.n += n
            m.total += total
            m.total_sq += total_sq
            m.vmin = min(m.vmin, vmin)
            m.vmax = max(m.vmax, vmax)
    units: dict[tuple[str, str], int] = {}
    for arm, bucket, count in unit_rows:
        unit_key = (_bucket(bucket, by), arm)
        units[unit_key] = units.get(unit_key, 0) + count
    buckets = sorted({k[0] for k in agg} | {k[0] for k in units})
    metrics = sorted({k[2] for k in agg})
    out_buckets = []
    for b in buckets:
        rows = []
        for metric in metrics:
            base = agg.get((b, control, metric))
            for arm in arms:
                m = agg.get((b, arm, metric))
                if m is None:
                    continue
                rate = m.is_rate and (base is None or base.is_rate)
                ci = proportion_ci95(m) if rate else m.ci95()
                row = {"arm": arm, "metric": metric, "units": units.get((b, arm), 0),
                       "events": m.n, "mean": m.mean, "ci95": list(ci),
                       "test": "two-proportion" if rate else "welch-t"}
                if arm != control and base is not None:
                    diff, stat, p = (two_proportions(base, m) if rate else welch(base, m))
                    row.update({"diff": diff, "stat": stat, "p": p})
                else:
                    row.update({"diff": None, "stat": None, "p": None})
                rows.append(row)
        arm_units = {arm: units.get((b, arm), 0) for arm in arms}
        out_buckets.append({"bucket": b, "units": arm_units, "rows": rows})
    return {"experiment": exp.name, "control": control, "by": by, "state": exp.state,
            "winner": exp.winner, "buckets": out_buckets}


def fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}g}"


# -- repository operations ------------------------------------------------------------------
def shared_remote(repo):
    """The remote whose main database holds experiments, or None (local repository)."""
    from .remote.remotes import default_remote, list_remotes

    if not list_remotes(repo.config):
        return None
    return default_remote(repo.config)


def source_db(repo, refresh: bool = True, remote=None) -> tuple[ExperimentReader, str | None]:
    """A read-only view of where experiments live: the synced main replica, or the local
    repository. Returns (ReadOnlyDb, warning or None)."""
    from .remote.transfer import replica_path, sync
    from .store.readonly import ReadOnlyDb

    remote = remote or shared_remote(repo)
    if remote is None:
        return ReadOnlyDb(repo.pvc_dir / "pvc.db"), None
    warning = None
    if refresh:
        try:
            sync(repo, remote)
        except PvcError as exc:
            warning = f"showing the last synced state: {exc.message}"
    path = replica_path(repo, remote)
    if not path.exists():
        raise ExperimentError(f"no copy of {remote.name} yet and it cannot be reached",
                              hint="run `pvc fetch` when the remote is reachable")
    return ReadOnlyDb(path), warning


def _write(repo, exp: Experiment, remote=None) -> None:
    from .remote.transfer import SHARED_DDL, run_batch
    from .store.readonly import EXPERIMENT_DDL, upsert_experiment_sql

    remote = remote or shared_remote(repo)
    if remote is not None:
        run_batch(remote, [(s, ()) for s in SHARED_DDL + EXPERIMENT_DDL]
                  + [upsert_experiment_sql(exp.to_row())], f"record experiment {exp.name}")
    with repo.store.transaction():
        repo.store.put_experiment(exp.to_row())


def load(repo, name: str, refresh: bool = True,
         remote=None) -> tuple[Experiment, ExperimentReader, str | None]:
    db, warning = source_db(repo, refresh, remote)
    row = db.experiment(name)
    if row is None:
        db.close()
        if warning:  # the real reason: the remote could not be read
            raise ExperimentError(f"cannot tell whether experiment '{name}' exists: the remote "
                                  f"could not be read ({warning.split(': ', 1)[-1]})",
                                  hint="run the command again when the remote answers")
        raise ExperimentError(f"no experiment named '{name}'",
                              hint="see `pvc experiment list`")
    return Experiment.from_row(row), db, warning


def create(repo, name: str, arm_specs: list[str], split: str | None) -> Experiment:
    from .clock import now_iso

    check_name(name)
    arms = parse_arms(arm_specs)
    known = {n for n, _ in repo.branches()} | {n.split("/", 1)[1] for n, _ in repo.remote_branches()}
    for arm, branch in arms:
        if branch not in known:
            raise ExperimentError(f"arm '{arm}' names branch '{branch}', which does not exist",
                                  hint=f"create it with `pvc branch {branch}`")
    db, _ = source_db(repo)
    try:
        if db.experiment(name) is not None:
            raise ExperimentError(f"an experiment named '{name}' already exists",
                                  hint="pick another name, or `pvc experiment show` it")
    finally:
        db.close()
    exp = Experiment(name, arms, parse_split(split, len(arms)), "running", now_iso())
    _write(repo, exp)
    return exp


def stop(repo, name: str, winner: str | None = None, remote=None) -> Experiment:
    from .clock import now_iso

    exp, db, _ = load(repo, name, remote=remote)
    db.close()
    if exp.state == "stopped" and winner is None:
        return exp
    exp.state = "stopped"
    exp.stopped_at = now_iso()
    if winner is not None:
        exp.branch_of(winner)
        exp.winner = winner
    _write(repo, exp, remote)
    return exp
