"""Branches and tags: branch, switch, tag."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, with_repo


@click.command()
@click.argument("name", required=False)
@click.argument("start", required=False)
@click.option("-d", "--delete", "delete", is_flag=True, help="Delete branch NAME (must be merged).")
@click.option("-D", "force_delete", is_flag=True, help="Delete branch NAME even if not merged.")
@click.option("-a", "--all", "all_", is_flag=True, help="Also list remote-tracking branches.")
@click.option("-v", "--verbose", is_flag=True, help="Show each branch's head commit.")
@json_option
@with_repo
def branch(repo, name: str | None, start: str | None, delete: bool, force_delete: bool,
           all_: bool, verbose: bool, as_json: bool) -> None:
    """List branches, create NAME at START (default HEAD), or delete one with -d."""
    if delete or force_delete:
        if not name:
            raise click.UsageError("give the branch to delete: pvc branch -d NAME")
        target = repo.delete_branch(name, force=force_delete)
        click.echo(f"Deleted branch {name} (was {target[:8]}).")
        return
    if name:
        cid = repo.create_branch(name, start)
        click.echo(f"Created branch {name} at {cid[:8]}")
        return
    current = repo.current_branch()
    rows = [(n, t, False) for n, t in repo.branches()]
    if all_:
        rows += [(f"remotes/{n}", t, True) for n, t in repo.remote_branches()]
    if as_json:
        emit_json([{"name": n, "head": t, "current": n == current and not remote,
                    "remote": remote} for n, t, remote in rows])
        return
    if not rows and current:
        click.echo(f"* {current} (no commits yet)")
        return
    width = max(len(n) for n, _, _ in rows) if rows else 0
    for n, t, remote in rows:
        mark = "*" if (n == current and not remote) else " "
        label = click.style(n, fg="green") if mark == "*" else (
            click.style(n, fg="red") if remote else n)
        line = f"{mark} {label}"
        if verbose:
            info = repo.commit(t)
            line = f"{mark} {label}{' ' * (width - len(n))} {info.short} {info.summary}"
        click.echo(line)


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
    """List tags, create tag NAME at REV (default HEAD), move one with -f, delete with -d.

    Every move is recorded: see `pvc reflog NAME`.
    """
    if delete:
        if not name:
            raise click.UsageError("give the tag to delete: pvc tag -d NAME")
        old = repo.delete_tag(name)
        click.echo(f"Deleted tag '{name}' (was {old[:8]})")
        return
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
