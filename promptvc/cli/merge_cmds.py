"""merge: bring another branch's commits into the current branch.

The steps around a merge (refresh a branch database, push, delete or freeze it) are in
promptvc.porcelain.merge_branch; this module parses options and prints.
"""

from __future__ import annotations

import sys

import click

from ._common import emit_json, json_option, with_repo


@click.command()
@click.argument("rev", required=False)
@click.option("-m", "--message", help="Message of the merge commit.")
@click.option("--no-ff", is_flag=True, help="Create a merge commit even when a fast-forward is possible.")
@click.option("--diff3", is_flag=True, help="Show the base text in conflicts (||||||| section).")
@click.option("--continue", "continue_", is_flag=True, help="Commit the merge after resolving conflicts.")
@click.option("--abort", is_flag=True, help="Give up the merge and restore the pre-merge state.")
@click.option("--author", metavar='"NAME <EMAIL>"', help="Override the author.")
@click.option("--date", metavar="ISO-8601", help="Override the commit date.")
@click.option("--delete-branch", is_flag=True,
              help="After a successful merge, delete the merged branch (and its database).")
@click.option("--freeze-branch", is_flag=True,
              help="After a successful merge, make the branch database read-only.")
@json_option
@with_repo
def merge(repo, rev: str | None, message: str | None, no_ff: bool, diff3: bool, continue_: bool,
          abort: bool, author: str | None, date: str | None, delete_branch: bool,
          freeze_branch: bool, as_json: bool) -> None:
    """Merge REV (a branch, tag or commit) into the current branch.

    Fast-forwards when possible; otherwise merges every changed prompt three-way against
    the merge base: line by line first, then word by word inside lines both sides changed
    (two edits to different sentences of one paragraph merge cleanly). Conflicts get
    git-style markers; fix them and run `pvc merge --continue`, or `pvc merge --abort`.
    """
    if continue_ and abort:
        raise click.UsageError("--continue and --abort cannot be used together")
    if continue_:
        info = repo.merge_continue(message, author=author, date=date)
        if as_json:
            emit_json({"result": "merged", "commit": info.id})
        else:
            click.echo(f"[{repo.current_branch() or 'HEAD'} {info.short}] {info.summary}")
        return
    if abort:
        repo.merge_abort()
        if as_json:
            emit_json({"result": "aborted", "head": repo.head()})
        else:
            click.echo(f"Merge aborted; working files are back at {str(repo.head())[:8]}")
        return
    if not rev:
        raise click.UsageError("give the branch to merge: pvc merge BRANCH")
    if delete_branch and freeze_branch:
        raise click.UsageError("--delete-branch and --freeze-branch cannot be used together")
    from ..porcelain import MergedEvent, merge_branch

    def report(event) -> None:
        if isinstance(event, MergedEvent):
            _report(repo, event.outcome, event.before, as_json)
        elif not as_json:
            _report_step(repo, event)

    done = merge_branch(repo, rev, message=message, no_ff=no_ff, diff3=diff3, author=author,
                        date=date, delete_branch=delete_branch, freeze_branch=freeze_branch,
                        on_event=report)
    if done.conflicts:
        sys.exit(1)


def _report(repo, out, before, as_json: bool) -> None:
    if as_json:
        emit_json({"result": out.kind, "commit": out.commit, "base": out.base,
                   "merged": out.merged,
                   "conflicts": [{"path": c.path, "kind": c.kind, "detail": c.detail}
                                 for c in out.conflicts]})
        return
    if out.kind == "up-to-date":
        click.echo("Already up to date.")
        return
    if out.kind == "fast-forward":
        click.echo(f"Updating {str(before)[:8]}..{str(out.commit)[:8]}\nFast-forward")
        return
    for p in out.merged:
        click.echo(f"Auto-merging {p}")
    if out.kind == "merged":
        info = repo.commit(out.commit)
        click.echo(f"[{repo.current_branch() or 'HEAD'} {info.short}] {info.summary}")
        return
    from ._common import echo_conflicts

    echo_conflicts(out.conflicts)
    click.echo("Automatic merge failed; fix conflicts and then run `pvc merge --continue` "
               "(or `pvc merge --abort`).", err=True)


def _report_step(repo, event) -> None:
    """What merge_branch did after the merge: push, delete or freeze the branch (database)."""
    from ..porcelain import BranchDeletedEvent, BranchFrozenEvent, PushedEvent

    if isinstance(event, PushedEvent):
        if not event.result.up_to_date:
            click.echo(f"Pushed {repo.current_branch()} to {event.remote.name} "
                       f"({event.result.new[:8]})")
    elif isinstance(event, BranchDeletedEvent):
        if event.database is not None:
            click.echo(f"Deleted branch {event.name} and its database {event.database.db_name}")
        else:
            click.echo(f"Deleted branch {event.name}")
    elif isinstance(event, BranchFrozenEvent):
        click.echo(f"Froze the database {event.database.db_name} of branch {event.name} "
                   "(read-only)")


COMMANDS = [merge]
