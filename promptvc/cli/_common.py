"""Shared CLI pieces: error handling, option bundles, output helpers."""

from __future__ import annotations

import functools
import json
import sys

import click


class PvcGroup(click.Group):
    """Loads each command's module on first use (`lazy_commands`: name -> module) and lists
    commands in git's help order, not A-Z."""

    lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx):
        return list(dict.fromkeys([*self.lazy_commands, *self.commands]))

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.lazy_commands:
            import importlib

            module = importlib.import_module(f"promptvc.cli.{self.lazy_commands[name]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(name)


class DashDashCommand(click.Command):
    """A command that takes `-- PATH...`: paths after `--` land in ctx.meta['paths']."""

    def parse_args(self, ctx, args):
        if "--" in args:
            i = args.index("--")
            ctx.meta["paths"] = args[i + 1:]
            ctx.meta["dashdash"] = True
            args = args[:i]
        else:
            ctx.meta["paths"] = []
            ctx.meta["dashdash"] = False
        return super().parse_args(ctx, args)


def run_main(cli: click.Group, argv: list[str]) -> None:
    from ..errors import PvcError

    try:
        rv = cli.main(args=argv, prog_name="pvc", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PvcError as exc:
        fail(exc.message, exc.hint, exc.exit_code)
    except BrokenPipeError:
        # output piped into `head`: not an error
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            sys.exit(0)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
        import os

        if os.environ.get("PVC_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc}",
             "this is a bug in pvc; run again with PVC_DEBUG=1 for details and report it")
    sys.exit(rv if isinstance(rv, int) else 0)


def fail(message: str, hint: str | None = None, code: int = 1) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    if hint:
        click.echo(click.style("hint: ", fg="yellow") + hint, err=True)
    sys.exit(code)


def open_repo():
    from ..repo import Repo

    repo = Repo.open()
    rec = repo.work.recovered
    if rec is not None:  # a command was killed while writing working files: say what was done
        click.echo(click.style("note: ", fg="yellow") + rec.message(), err=True)
    return repo


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def write_bytes(data: bytes) -> None:
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


def with_repo(f):
    """Open the repository, pass it as the first argument, close it afterwards."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        repo = open_repo()
        try:
            return f(repo, *args, **kwargs)
        finally:
            repo.close()

    return wrapper


def color_diff(data: bytes) -> None:
    """Write a unified diff, coloured when stdout is a terminal."""
    if not sys.stdout.isatty():
        write_bytes(data)
        return
    for line in data.decode("utf-8", "replace").splitlines(keepends=True):
        if line.startswith(("+++", "---", "diff --git", "new file", "deleted file", "rename ")):
            click.echo(click.style(line, bold=True), nl=False)
        elif line.startswith("@@"):
            click.echo(click.style(line, fg="cyan"), nl=False)
        elif line.startswith("+"):
            click.echo(click.style(line, fg="green"), nl=False)
        elif line.startswith("-"):
            click.echo(click.style(line, fg="red"), nl=False)
        else:
            click.echo(line, nl=False)


def plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}{'' if n == 1 else suffix}"
