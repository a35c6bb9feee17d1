"""experiment: A/B experiments across branches, their reports and promotion."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, with_repo


@click.group()
def experiment() -> None:
    """A/B experiments: arms served from branches or their databases.

    Applications assign units to arms and record outcomes with the Python API
    (promptvc.serve.PromptSource); see docs/serving.md.
    """


@experiment.command("create")
@click.argument("name")
@click.option("--arm", "arms", multiple=True, required=True, metavar="NAME=BRANCH",
              help="An arm and the branch that serves it (repeat; the first is the control).")
@click.option("--split", metavar="A/B[/...]", help="Traffic shares per arm, scaled to 100% (default: equal).")
@json_option
@with_repo
def experiment_create(repo, name: str, arms: tuple[str, ...], split: str | None,
                      as_json: bool) -> None:
    """Create experiment NAME, e.g. --arm control=main --arm b=exp-b --split 50/50."""
    from ..experiments import create

    exp = create(repo, name, list(arms), split)
    if as_json:
        emit_json(exp.to_json())
        return
    shares = " / ".join(f"{a}={b} {s:g}%" for (a, b), s in zip(exp.arms, exp.split))
    click.echo(f"Created experiment {exp.name}: {shares}")


@experiment.command("list")
@json_option
@with_repo
def experiment_list(repo, as_json: bool) -> None:
    """List experiments."""
    from ..experiments import Experiment, source_db

    db, warning = source_db(repo)
    try:
        exps = [Experiment.from_row(r) for r in db.experiments()]
    finally:
        db.close()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json([e.to_json() for e in exps])
        return
    for e in exps:
        arms = ", ".join(f"{a}={b}" for a, b in e.arms)
        extra = f" winner {e.winner}" if e.winner else ""
        click.echo(f"{e.name}\t{e.state}{extra}\t{arms}")


@experiment.command("show")
@click.argument("name")
@json_option
@with_repo
def experiment_show(repo, name: str, as_json: bool) -> None:
    """Show an experiment's arms, split and state."""
    from ..experiments import load

    exp, db, warning = load(repo, name)
    db.close()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(exp.to_json())
        return
    click.echo(f"experiment {exp.name} ({exp.state}, created {exp.created_at})")
    for (a, b), s in zip(exp.arms, exp.split):
        mark = " (control)" if a == exp.arms[0][0] else ""
        win = " (winner)" if a == exp.winner else ""
        click.echo(f"  {a:<12} branch {b:<16} {s:5.1f}%{mark}{win}")
    if exp.stopped_at:
        click.echo(f"stopped {exp.stopped_at}")


@experiment.command("stop")
@click.argument("name")
@with_repo
def experiment_stop(repo, name: str) -> None:
    """Stop an experiment (applications then serve the control arm)."""
    from ..experiments import stop

    exp = stop(repo, name)
    click.echo(f"Stopped experiment {exp.name}")


@experiment.command("report")
@click.argument("name")
@click.option("--by", type=click.Choice(["hour", "day", "week"]), help="One table per period.")
@json_option
@with_repo
def experiment_report(repo, name: str, by: str | None, as_json: bool) -> None:
    """Per arm: units, events, mean with 95% interval, difference to control and p-value
    (Welch's t for means, two-proportion z for 0/1 rates)."""
    from ..experiments import fmt, load, report

    exp, db, warning = load(repo, name)
    try:
        data = report(exp, db.summary(name), db.units(name), by)
    finally:
        db.close()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(data)
        return
    click.echo(f"experiment {exp.name} ({exp.state}); control arm {data['control']}")
    for b in data["buckets"]:
        if by:
            click.echo(f"\n== {b['bucket']} ==")
        click.echo(f"{'metric':<14} {'arm':<10} {'units':>7} {'events':>7} {'mean':>9} "
                   f"{'95% interval':>21} {'diff':>9} {'p':>8}  test")
        for r in b["rows"]:
            lo, hi = r["ci95"]
            click.echo(f"{r['metric']:<14} {r['arm']:<10} {r['units']:>7} {r['events']:>7} "
                       f"{fmt(r['mean']):>9} {'[' + fmt(lo) + ', ' + fmt(hi) + ']':>21} "
                       f"{fmt(r['diff']):>9} {fmt(r['p'], 3):>8}  {r['test']}")
        if not b["rows"]:
            click.echo("(no events yet)")


@experiment.command("promote")
@click.argument("name")
@click.argument("arm")
@click.option("--tag", default="production", show_default=True, help="The label to move.")
@with_repo
def experiment_promote(repo, name: str, arm: str, tag: str) -> None:
    """Merge ARM's branch into the control branch, move the production tag there (recorded
    in the reflog and published), and stop the experiment."""
    from ..porcelain import promote

    exp, head = promote(repo, name, arm, tag)
    click.echo(f"Promoted arm {arm} of {exp.name}: {tag} -> {head[:8]}; experiment stopped")


COMMANDS = [experiment]
