"""tui: the terminal UI (Textual is imported only here, when the command runs)."""

from __future__ import annotations

import click

from ._common import DashDashCommand


@click.command(cls=DashDashCommand)
@click.argument("rev", required=False)
def tui(rev: str | None) -> None:
    """Browse branches, history, versions and diffs in the terminal.

    `pvc tui [REV] [-- PATH]` opens at REV, with PATH's history.

    Keys: j/k move, tab next pane, enter open, / filter, g go to REV, d diff/content,
    s side by side, m mark and compare, c copy, b branches, ? help, q quit.
    """
    import os

    from ..repo import Repo

    repo = Repo.open()  # a clear error outside a repository, before Textual starts
    try:
        if rev:
            repo.resolve(rev)
    finally:
        repo.close()
    paths = click.get_current_context().meta.get("paths") or []
    from ..tui.app import run

    run(os.getcwd(), rev, paths[0] if paths else None)


COMMANDS = [tui]
