"""merge: bring another branch's commits into the current branch."""

from __future__ import annotations

import sys

import click

from ..errors import PvcError
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
    db_remote, mapped = _mapped(repo, rev)
    if freeze_branch:  # refuse before merging anything
        if mapped is None:
            raise PvcError(f"branch '{rev}' has no database to freeze")
        if not db_remote.backend().can_freeze:
            raise PvcError(
                f"{'Turso Cloud' if db_remote.backend().kind == 'turso' else 'this backend'} has "
                "no per-database write block, so the branch cannot be frozen; nothing was merged",
                hint="use --delete-branch, or merge without --freeze-branch")
    if mapped is not None:
        _refresh_branch(repo, db_remote, rev)
    before = repo.head()
    out = repo.merge(rev, message=message, no_ff=no_ff, diff3=diff3, author=author, date=date)
    _report(repo, out, before, as_json)
    if out.kind != "conflicts":
        _after_merge(repo, db_remote, mapped, rev, delete_branch, freeze_branch, as_json)
    if out.kind == "conflicts":
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


def _mapped(repo, name: str):
    from ..remote.remotes import list_remotes

    for r in list_remotes(repo.config):
        row = repo.store.branch_db(r.name, name)
        if row is not None and row.state != "deleted":
            return r, row
    return None, None


def _refresh_branch(repo, remote, name: str) -> None:
    """Fetch the branch database and fast-forward the local branch to it."""
    from .. import refs as R
    from ..remote.transfer import fetch

    fetch(repo, remote, branches=[name])
    tracking = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{name}")
    local = repo.store.get_ref(R.HEADS + name)
    if tracking and (local is None or local in repo.store.ancestor_ids([tracking])) \
            and local != tracking:
        repo.move_ref(R.HEADS + name, local, tracking, f"merge: fast-forward from {remote.name}")


def _after_merge(repo, remote, mapped, name: str, delete_branch: bool, freeze_branch: bool,
                 as_json: bool) -> None:
    if mapped is not None:
        from ..remote.transfer import push

        res = push(repo, remote)
        if not as_json and not res.up_to_date:
            click.echo(f"Pushed {repo.current_branch()} to {remote.name} ({res.new[:8]})")
    if delete_branch:
        if mapped is not None:
            from ..remote.branches import delete_branch_db

            _, row = delete_branch_db(repo, remote, name)
            if not as_json:
                click.echo(f"Deleted branch {name} and its database {row.db_name}")
        else:
            repo.delete_branch(name)
            if not as_json:
                click.echo(f"Deleted branch {name}")
    if freeze_branch:
        if mapped is None:
            raise PvcError(f"branch '{name}' has no database to freeze")
        from ..remote.branches import freeze_branch_db

        row = freeze_branch_db(repo, remote, name)
        if not as_json:
            click.echo(f"Froze the database {row.db_name} of branch {name} (read-only)")


COMMANDS = [merge]
