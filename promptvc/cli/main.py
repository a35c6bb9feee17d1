"""The `pvc` command: a click group; commands live in one module per group.

Start-up stays light: command modules import the repository code inside the commands,
so `pvc --version` and `pvc --help` load click and nothing heavy.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ._common import PvcGroup, run_main

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=PvcGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="pvc",
                      message="%(prog)s %(version)s")
@click.option("-C", "chdir", metavar="PATH", type=click.Path(file_okay=False),
              help="Run as if pvc was started in PATH.")
def cli(chdir: str | None) -> None:
    """pvc: Git-style version control for LLM prompts, stored in libSQL.

    Start with `pvc init`, `pvc add FILE...` and `pvc commit -m MSG`.
    """
    if chdir:
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise click.UsageError(f"cannot change to '{chdir}': {exc.strerror}") from None


# command name -> the module that defines it; a module is imported only when one of its
# commands runs (or for --help), so each command starts as fast as it can
COMMAND_MODULES = {
    "init": "worktree", "add": "worktree", "rm": "worktree", "mv": "worktree",
    "status": "worktree", "commit": "worktree", "restore": "worktree",
    "log": "history", "show": "history", "diff": "history", "reflog": "history",
    "branch": "refs_cmds", "switch": "refs_cmds", "tag": "refs_cmds",
    "merge": "merge_cmds",
    "remote": "remote_cmds", "clone": "remote_cmds", "fetch": "remote_cmds",
    "pull": "remote_cmds", "push": "remote_cmds", "sync": "remote_cmds",
    "server": "remote_cmds",
    "daemon": "daemon_cmds",
    "experiment": "experiment_cmds",
    "import": "gitcmds", "export": "gitcmds",
    "tui": "tui_cmd",
    "render": "prompt_cmds", "check": "prompt_cmds",
    "fsck": "maint", "gc": "maint", "config": "maint", "debug": "maint",
    "grep": "search_cmds", "search": "search_cmds",
}
cli.lazy_commands = COMMAND_MODULES


def main(argv: list[str] | None = None) -> None:
    run_main(cli, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
