"""Commands on the working folder: init, add, rm, mv, status, commit, restore."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, plural, with_repo


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option("-b", "--initial-branch", default="main", show_default=True,
              help="Name of the first branch.")
def init(directory: str, initial_branch: str) -> None:
    """Create an empty pvc repository in DIRECTORY (default: here)."""
    from ..repo import Repo

    repo = Repo.init(directory, branch=initial_branch)
    click.echo(f"Initialized empty pvc repository in {repo.pvc_dir}")
    repo.close()


@click.command()
@click.argument("paths", nargs=-1, required=True)
@with_repo
def add(repo, paths: tuple[str, ...]) -> None:
    """Start tracking text files (a folder adds its prompt files).

    The next `pvc commit` records their content.
    """
    added = repo.add(paths)
    for rel in sorted(added):
        click.echo(f"add '{rel}'")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--cached", is_flag=True, help="Stop tracking but keep the file on disk.")
@click.option("-f", "--force", is_flag=True, help="Delete the file even if it has uncommitted changes.")
@with_repo
def rm(repo, paths: tuple[str, ...], cached: bool, force: bool) -> None:
    """Stop tracking files and delete them (keep them with --cached)."""
    for rel in repo.rm(paths, cached=cached, force=force):
        click.echo(f"rm '{rel}'")


@click.command()
@click.argument("old")
@click.argument("new")
@with_repo
def mv(repo, old: str, new: str) -> None:
    """Rename a tracked file; its history follows the rename."""
    src, dst = repo.mv(old, new)
    click.echo(f"renamed '{src}' -> '{dst}'")


_LABELS = {"M": "modified:", "A": "new file:", "D": "deleted:", "R": "renamed:"}


@click.command()
@click.option("-s", "--short", is_flag=True, help="One line per file, like `git status -s`.")
@click.option("--no-untracked", is_flag=True, help="Do not look for untracked prompt files.")
@json_option
@with_repo
def status(repo, short: bool, no_untracked: bool, as_json: bool) -> None:
    """Show the branch, changed files and untracked prompt files."""
    st = repo.status(untracked=not no_untracked)
    if as_json:
        emit_json(st.to_json())
        return
    entries = ([("M", p) for p in st.modified] + [("A", p) for p in st.added]
               + [("D", p) for p in st.deleted] + [("R", f"{a} -> {b}") for a, b in st.renamed])
    conflicted = set(st.conflicted)  # listed once, as unmerged, not also as modified
    entries = [e for e in entries if e[1] not in conflicted]
    entries.sort(key=lambda e: e[1])
    if short:
        for p in st.conflicted:
            click.echo(f"UU {p}")
        for code, p in entries:
            click.echo(f" {code} {p}" if code == "M" else f"{code}  {p}")
        for p in st.untracked:
            click.echo(f"?? {p}")
        return
    if st.branch:
        click.echo(f"On branch {st.branch}")
    else:
        click.echo(f"HEAD detached at {str(st.head)[:8]}")
    if st.recovered:
        click.echo(f"Note: {st.recovered}")
    if st.head is None:
        click.echo("\nNo commits yet")
    if st.merging:
        click.echo(f"\nYou are in the middle of a merge with {st.merging[:8]}.")
        if st.conflicted:
            click.echo('  (fix conflicts and run "pvc merge --continue")')
            click.echo('  (use "pvc merge --abort" to abort the merge)')
        click.echo("\nUnmerged paths:")
        for p in st.conflicted:
            click.echo("\t" + click.style(f"both modified:   {p}", fg="red"))
    if entries:
        click.echo("\nChanges to be committed by `pvc commit`:")
        for code, p in entries:
            colour = "red" if code == "D" else "green"
            click.echo("\t" + click.style(f"{_LABELS[code]:<12}{p}", fg=colour))
    if st.untracked:
        click.echo("\nUntracked prompt files:")
        click.echo('  (use "pvc add <file>..." to track them)')
        for p in st.untracked:
            click.echo("\t" + click.style(p, fg="red"))
    if not entries and not st.conflicted:
        if st.untracked:
            click.echo('\nnothing to commit, but untracked prompt files are present '
                       '(use "pvc add" to track)')
        else:
            click.echo("\nnothing to commit, working tree clean")


@click.command()
@click.option("-m", "--message", help="The commit message.")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Commit all tracked changes (pvc always does).")
@click.option("--author", metavar='"NAME <EMAIL>"', help="Override the author.")
@click.option("--date", metavar="ISO-8601", help="Override the commit date.")
@click.option("--no-check", is_flag=True,
              help="Skip `pvc check` even when config check.on_commit is true.")
@click.option("-q", "--quiet", is_flag=True, help="Print no summary (warnings and errors only).")
@json_option
@click.argument("paths", nargs=-1)
@with_repo
def commit(repo, message: str | None, all_: bool, author: str | None, date: str | None,
           no_check: bool, quiet: bool, as_json: bool, paths: tuple[str, ...]) -> None:
    """Record changes of tracked files (all, or those under PATHS).

    Without -m, $VISUAL or $EDITOR opens for the message. The author is --author, else
    PVC_AUTHOR, else user.name/user.email (`pvc config`), else git's GIT_AUTHOR_NAME and
    GIT_AUTHOR_EMAIL; failing those pvc guesses from the login and host names and warns.
    With `pvc config check.on_commit true`, the files to commit are checked first
    (`pvc check`); any problem stops the commit.
    """
    if date is not None:
        _check_date(date)
    root = repo.head() is None
    from ..errors import CheckFailed

    try:  # the check (config check.on_commit) runs before the editor opens
        info = repo.commit_changes(message if message is not None else _message_from_editor,
                                   author=author, paths=list(paths) or None, date=date,
                                   check=False if no_check else None)
    except CheckFailed as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise
    changes = repo.changes(info.id)
    if as_json:
        data = info.to_json()
        data["branch"] = repo.current_branch()
        data["changes"] = [{"status": c.status, "path": c.path, "old_path": c.old_path,
                            "insertions": c.insertions, "deletions": c.deletions} for c in changes]
        emit_json(data)
        return
    if author is None:
        _warn_if_identity_guessed(repo, info.author)
    if quiet:
        return
    where = repo.current_branch() or "detached HEAD"
    if root:
        where += " (root-commit)"
    click.echo(f"[{where} {info.short}] {info.summary}")
    ins = sum(c.insertions for c in changes)
    dels = sum(c.deletions for c in changes)
    line = f" {plural(len(changes), 'file')} changed"
    if ins:
        line += f", {plural(ins, 'insertion')}(+)"
    if dels:
        line += f", {plural(dels, 'deletion')}(-)"
    click.echo(line)


def _message_from_editor() -> str | None:
    """The message written in $VISUAL / $EDITOR, without its '#' lines."""
    message = _edit_message()
    if message is None:
        return None
    return "\n".join(l for l in message.splitlines() if not l.startswith("#")).strip()


def _edit_message() -> str | None:
    """Open $VISUAL / $EDITOR for the message; a clear error when the editor fails."""
    from ..errors import PvcError

    try:
        return click.edit("\n# Write the commit message above. Lines starting with '#' are "
                          "ignored.\n")
    except click.ClickException as exc:
        import os

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        raise PvcError(f"the editor '{editor}' failed, so there is no commit message "
                       f"({exc.format_message()}); nothing was committed",
                       hint='give the message with `pvc commit -m "..."`, or set $EDITOR to '
                            "an editor that works") from None


def _warn_if_identity_guessed(repo, author: str) -> None:
    """Like git: say so when the author was made up from the login and host names."""
    from ..config import author_is_configured

    if author_is_configured(repo.config):
        return
    click.echo(f"warning: no name and email are configured; this commit's author was guessed "
               f"from the login and host names: {author}", err=True)
    click.echo('hint: set them with `pvc config user.name "Jane Doe"` and `pvc config '
               "user.email jane@example.com` (or under [user] in ~/.config/pvc/config for "
               "every repository)", err=True)


def _check_date(date: str) -> None:
    import datetime as dt

    try:
        dt.datetime.fromisoformat(date)
    except ValueError:
        raise click.BadParameter(f"'{date}' is not an ISO 8601 date", param_hint="--date") from None


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-s", "--source", metavar="REV", help="Take the content from REV (default HEAD).")
@with_repo
def restore(repo, paths: tuple[str, ...], source: str | None) -> None:
    """Overwrite working files with committed content (drops edits).

    The content comes from REV with --source (default HEAD); local edits are discarded.
    """
    restored = repo.restore(paths, source=source)
    click.echo(f"Restored {plural(len(restored), 'file')} from {source or 'HEAD'}")


COMMANDS = [init, add, rm, mv, status, commit, restore]
