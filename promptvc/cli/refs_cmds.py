"""Branches and tags: branch, switch, tag.

The steps of creating, deleting and locating a branch (with its database) are in
promptvc.porcelain; this module parses options and prints.
"""

from __future__ import annotations

import click

from ._common import emit_json, json_option, with_repo


@click.command()
@click.argument("name", required=False)
@click.argument("start", required=False)
@click.option("-d", "--delete", "delete", is_flag=True, help="Delete branch NAME (must be merged).")
@click.option("-D", "force_delete", is_flag=True, help="Delete branch NAME even if not merged.")
@click.option("-a", "--all", "all_", is_flag=True, help="Also list remote-tracking branches.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show each branch's head commit, and its database and URL.")
@click.option("--local", "local_only", is_flag=True,
              help="Create a lightweight branch even when the remote has branch databases.")
@click.option("--at", "timestamp", metavar="RFC3339",
              help="Seed the branch database from this point in time (Turso; sqld with backups).")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="With `pvc branch url NAME`: mint a read-only token (Turso) into FILE (0600).")
@json_option
@with_repo
def branch(repo, name: str | None, start: str | None, delete: bool, force_delete: bool,
           all_: bool, verbose: bool, local_only: bool, timestamp: str | None,
           token_file: str | None, as_json: bool) -> None:
    """List, create (NAME [START]) or delete (-d NAME) branches.

    A new branch starts at START (default HEAD).

    With a remote that has branch databases (`pvc remote add ... --admin-url` or
    `--turso-org`), a new branch is also a database forked from the current branch's
    database; `pvc branch url NAME` prints the URL an application connects to.
    """
    from .. import porcelain

    if name == "":
        from .. import refs as R

        R.check_ref_name(name)
    if name == "url" and start:
        _branch_url(repo, start, token_file, as_json)
        return
    if name == "url" and not (delete or force_delete):  # not a new branch called "url"
        raise click.UsageError("give the branch whose URL to print: pvc branch url NAME")
    if delete or force_delete:
        if not name:
            raise click.UsageError("give the branch to delete: pvc branch -d NAME")
        gone = porcelain.delete_branch(repo, name, force=force_delete)
        if gone.database is not None:
            click.echo(f"Deleted branch {name} (was {gone.target[:8]}) and its database "
                       f"{gone.database.db_name}.")
        else:
            click.echo(f"Deleted branch {name} (was {gone.target[:8]}).")
        return
    if name:
        made = porcelain.create_branch(repo, name, start, local_only=local_only,
                                       timestamp=timestamp)
        if made.database is not None:
            click.echo(f"Created branch {name} at {made.commit[:8]} with database "
                       f"{made.database.db_name}")
            click.echo(f"  {made.database.url}")
            if made.warning:
                click.echo(f"warning: {made.warning}", err=True)
        else:
            click.echo(f"Created branch {name} at {made.commit[:8]}")
        if made.database is None and not local_only:
            _note_no_database(repo, name)
        return
    remote = porcelain.db_remote(repo)
    current = repo.current_branch()
    rows = [(n, t, False) for n, t in repo.branches()]
    if all_:
        rows += [(f"remotes/{n}", t, True) for n, t in repo.remote_branches()]
    mapped = {r.branch: r for r in repo.branch_dbs(remote.name)} if remote else {}
    dbs = {}  # row name (`exp-b`, `remotes/origin/exp-b`) -> its live database
    for n, _, is_remote in (rows if remote is not None else []):
        key = n.split("/", 2)[2] if is_remote and remote is not None \
            and n.startswith(f"remotes/{remote.name}/") \
            else (None if is_remote else n)
        if key in mapped and mapped[key].state != "deleted":
            dbs[n] = mapped[key]
    if as_json:
        emit_json([{"name": n, "head": t, "current": n == current and not remote_,
                    "remote": remote_,
                    "database": dbs[n].db_name if n in dbs else None,
                    "url": dbs[n].url if n in dbs else None}
                   for n, t, remote_ in rows])
        return
    if not rows and current:
        click.echo(f"* {current} (no commits yet)")
        return
    width = max(len(n) for n, _, _ in rows) if rows else 0
    for n, t, is_remote in rows:
        mark = "*" if (n == current and not is_remote) else " "
        label = click.style(n, fg="green") if mark == "*" else (
            click.style(n, fg="red") if is_remote else n)
        line = f"{mark} {label}"
        if verbose:
            info = repo.commit(t)
            line = f"{mark} {label}{' ' * (width - len(n))} {info.short} {info.summary}"
            row = dbs.get(n)
            if row is not None:
                frozen = " (frozen)" if row.state == "frozen" else ""
                line += click.style(f"  [{row.db_name}{frozen} {row.url}]", fg="cyan")
        click.echo(line)


def _note_no_database(repo, name: str) -> None:
    """With a remote but no branch-database backend, say why NAME got no database."""
    from ..remote.remotes import list_remotes
    from ..remote.team import why_no_database

    remotes = list_remotes(repo.config)
    if not remotes:
        return
    r = next((x for x in remotes if x.name == "origin"), remotes[0])
    click.echo(f"note: branch {name} has no database of its own: {why_no_database(repo.config, r)}",
               err=True)
    click.echo(f"hint: give {r.name} a backend with `pvc config remote.{r.name}.admin_url URL` "
               f"(sqld) or `pvc config remote.{r.name}.turso_org ORG`; `pvc branch --local` "
               "skips this note", err=True)


def _branch_url(repo, name: str, token_file: str | None, as_json: bool) -> None:
    from ..porcelain import branch_url

    found = branch_url(repo, name, token_file=token_file)
    if found.token_file:
        click.echo(f"wrote a read-only token for {found.database} to {found.token_file}",
                   err=True)
    if as_json:
        emit_json(found.to_json())
    else:
        click.echo(found.url)


@click.command()
@click.argument("name")
@click.option("-c", "--create", is_flag=True, help="Create the branch at HEAD first.")
@with_repo
def switch(repo, name: str, create: bool) -> None:
    """Switch to branch NAME, updating the working files.

    Refuses when uncommitted changes would be overwritten.
    """
    if repo.current_branch() == name and not create:
        click.echo(f"Already on '{name}'")
        return
    repo.switch(name, create=create)
    click.echo(f"Switched to {'a new ' if create else ''}branch '{name}'")


@click.command()
@click.argument("name", required=False)
@click.argument("rev", required=False)
@click.option("-f", "--force", is_flag=True, help="Move the tag if it exists (e.g. `production`).")
@click.option("-d", "--delete", is_flag=True, help="Delete tag NAME.")
@json_option
@with_repo
def tag(repo, name: str | None, rev: str | None, force: bool, delete: bool, as_json: bool) -> None:
    """List, create (NAME [REV]), move (-f) or delete (-d) tags.

    REV defaults to HEAD, also with -f: `pvc tag -f production` moves the label to HEAD.

    Every move is recorded: see `pvc reflog NAME`.
    """
    if name == "":
        from .. import refs as R

        R.check_ref_name(name, "tag")
    if delete:
        if not name:
            raise click.UsageError("give the tag to delete: pvc tag -d NAME")
        old = repo.delete_tag(name)
        click.echo(f"Deleted tag '{name}' (was {old[:8]})")
        return
    if force and not name:
        raise click.UsageError("give the tag to move: pvc tag -f NAME [REV]")
    if name:
        old, new = repo.tag(name, rev, force=force)
        if as_json:
            emit_json({"tag": name, "old": old, "new": new, "moved": old != new})
        elif old is None:
            click.echo(f"Created tag '{name}' at {new[:8]}")
        elif old == new:
            click.echo(f"Tag '{name}' already at {new[:8]}")
        else:
            click.echo(f"Updated tag '{name}' (was {old[:8]}, now {new[:8]})")
        return
    tags = repo.tags()
    if as_json:
        emit_json([{"name": n, "target": t} for n, t in tags])
        return
    for n, _ in tags:
        click.echo(n)


COMMANDS = [branch, switch, tag]
