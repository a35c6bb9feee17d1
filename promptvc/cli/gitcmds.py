"""git interchange: `pvc import git` and `pvc export git`."""

from __future__ import annotations

import click

from ._common import PvcGroup, emit_json, json_option, plural, with_repo


def _progress(label: str, quiet: bool):
    """Click's progress bar on a terminal (stderr); None elsewhere (nothing printed)."""
    from ._common import Progress

    bar = Progress(label, quiet=quiet)
    return bar if bar.enabled else None


def _names(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


@click.group("import", cls=PvcGroup)
def import_() -> None:
    """Bring history in from another version control system."""


@import_.command("git")
@click.argument("source", metavar="REPO")
@click.option("--rev", default="HEAD", show_default=True, metavar="REV",
              help="Import the first-parent history of this git revision.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Import only matching paths (repeatable; default: every text file).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave matching paths out (repeatable; wins over --include).")
@click.option("-b", "--branch", metavar="NAME",
              help="Import onto this branch (default: the current one; a new name starts a "
                   "new branch).")
@json_option
@with_repo
def import_git(repo, source: str, rev: str, include: tuple[str, ...], exclude: tuple[str, ...],
               branch: str | None, as_json: bool) -> None:
    """Replay a git repository's history (adds, edits, deletes, renames) into pvc.

    Authors, dates and messages are kept; binary files are skipped. Running it again
    imports only the git commits that are new since the last run.
    """
    from ..gitio import import_git as run, short

    bar = _progress("importing git commits", as_json)
    try:
        res = run(repo, source, rev=rev, include=include, exclude=exclude, branch=branch,
                  progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        emit_json(res.to_json())
        return
    if res.replayed == 0:
        click.echo(f"Already up to date: the {plural(res.git_commits, 'commit')} of {rev} in "
                   f"{source} are already on branch '{res.branch}'")
        return
    line = (f"Imported {plural(res.replayed, 'git commit')} from {source} ({rev}) onto branch "
            f"'{res.branch}': {plural(res.created, 'commit')}, "
            f"{plural(res.versions, 'file')} added or changed")
    if res.already:
        line += f" ({res.already} already imported before)"
    click.echo(line)
    if res.binary:
        click.echo(f"Skipped {plural(len(res.binary), 'binary file')} "
                   f"({plural(sum(res.binary.values()), 'version')}): {_names(sorted(res.binary))}")
    if res.unsupported:
        items = [f"{p} ({why})" for p, why in sorted(res.unsupported.items())]
        click.echo(f"Skipped {plural(len(items), 'path')} pvc cannot store: {_names(items)}")
    if res.checkout == "updated":
        click.echo(f"Updated the working files to {short(res.head)}.")
    elif res.checkout == "not-current" and res.created:
        click.echo(f"Branch '{res.branch}' is not the current branch; the working files were "
                   "not changed.")
    elif res.checkout in ("dirty", "blocked"):
        click.echo(f"note: {res.checkout_note}", err=True)


@click.group("export", cls=PvcGroup)
def export() -> None:
    """Write pvc history out for another version control system."""


@export.command("git")
@click.argument("dest", metavar="DIR", type=click.Path(file_okay=True, dir_okay=True))
@click.option("-b", "--branch", metavar="NAME", help="Export this branch (default: the current one).")
@json_option
@with_repo
def export_git(repo, dest: str, branch: str | None, as_json: bool) -> None:
    """Write a branch's history as a new git repository in DIR (new or empty).

    One git commit per commit on the branch's first-parent chain, with the same author,
    date, message and file contents.
    """
    from ..gitio import export_git as run, short

    bar = _progress("exporting commits", as_json)
    try:
        res = run(repo, dest, branch=branch, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        emit_json(res.to_json())
        return
    click.echo(f"Exported {plural(res.commits, 'commit')} of branch '{res.branch}' "
               f"({plural(res.blobs, 'distinct file content')}) to the git repository {dest}")
    click.echo(f"pvc {short(res.head)} = git {short(res.git_head)}")


COMMANDS = [import_, export]
