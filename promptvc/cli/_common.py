"""Shared CLI pieces: error handling, option bundles, output helpers.

Layer: the CLI's own base. The command modules (promptvc/cli/*.py) import it. At start-up
it imports only click; promptvc's modules are imported inside the functions that use them.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # where click defines it (no public name)

    from ..treemerge import Conflict


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

    def resolve_command(self, ctx, args):
        """An unknown command gets a suggestion, as an unknown option does."""
        name = click.utils.make_str(args[0])
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            if close:
                choices = " or ".join(f"'{c}'" for c in close)
                ctx.fail(f"No such command '{name}'. Did you mean {choices}?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        """The command list with each command's whole first paragraph (click cuts it to the
        width, often mid-sentence), wrapped."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, summary(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def summary(cmd: click.Command) -> str:
    """A command's one-paragraph summary: short_help, else the first paragraph of its help."""
    import inspect

    if cmd.short_help:
        return cmd.short_help
    text = inspect.cleandoc(cmd.help or "")
    first = text.split("\n\n", 1)[0]
    return " ".join(first.replace("\b", "").split())


class DashDashCommand(click.Command):
    """A command that takes `-- PATH...`: paths after `--` land in ctx.meta['paths']."""

    def collect_usage_pieces(self, ctx):
        return [*super().collect_usage_pieces(ctx), "[-- PATH...]"]

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


def wants_json(argv: list[str]) -> bool:
    """Did the command line ask for --json (before any `--`)?"""
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in head


def error_code(exc: BaseException) -> str:
    """A stable, machine-readable name for an error: a PvcError's ErrorCode (`config`,
    `non-fast-forward`, ...), else its class in kebab-case."""
    import re

    code = getattr(exc, "error_code", None)
    if code:
        return str(code)
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(exc).__name__).lower()


def emit_json_error(code: str, message: str, hint: str | None, exit_code: int,
                    extra: dict | None = None) -> None:
    """The failure of a --json command, on stdout, for scripts: {"error": {...}}; EXTRA
    holds an error's structured fields (the branch or remote it is about, a check's
    problems)."""
    click.echo(json.dumps({"error": {"code": code, "message": message, "hint": hint,
                                     "exit_code": exit_code, **(extra or {})}},
                          indent=2, ensure_ascii=False))


def run_main(cli: click.Group, argv: list[str]) -> None:
    from ..errors import PvcError

    as_json = wants_json(argv)
    try:
        rv = cli.main(args=argv, prog_name="pvc", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if as_json:
            emit_json_error("usage" if exc.exit_code == 2 else "error", exc.format_message(),
                            None, exc.exit_code)
        exc.show()
        sys.exit(exc.exit_code)
    except PvcError as exc:
        if as_json:
            extra = {k: v for k, v in exc.to_json().items()
                     if k not in ("code", "message", "hint", "exit_code")}
            emit_json_error(error_code(exc), exc.message, exc.hint, exc.exit_code, extra)
        fail(exc.message, exc.hint, exc.exit_code)
    except BrokenPipeError:
        # output piped into `head`: not an error
        try:
            sys.stdout = None
        finally:
            sys.exit(0)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
        import os

        if os.environ.get("PVC_DEBUG"):
            raise
        if as_json:
            emit_json_error("internal-error", f"{type(exc).__name__}: {exc}", None, 1)
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


class Progress:
    """Click's progress bar on stderr, drawn only when stderr is a terminal (silent when
    piped, in CI, or with QUIET). Call it as ``bar(done, total)``, or ``bar.index(i, total)``
    with a 0-based index; ``close()`` when finished."""

    def __init__(self, label: str, quiet: bool = False, file=None):
        self.file = file if file is not None else sys.stderr
        isatty = getattr(self.file, "isatty", None)
        self.enabled = not quiet and bool(isatty and isatty())
        self.label = label
        self.bar: ProgressBar[int] | None = None
        self.done = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None or total != self.total:
            self.close()
            self.total = total
            self.bar = bar = click.progressbar(length=max(total, 1), label=self.label,
                                               file=self.file, show_pos=True, show_eta=False)
            bar.__enter__()
            self.done = 0
        else:
            bar = self.bar
        step = max(0, min(done, total) - self.done)
        if step:
            bar.update(step)
            self.done += step

    def index(self, i: int, total: int) -> None:
        if (i + 1) % 200 == 0 or i + 1 == total:  # redraw now and then, and at the end
            self(i + 1, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def echo_conflicts(conflicts: list[Conflict]) -> None:
    """One wording for a conflict wherever it is found (merge, pull, sync), git's."""
    for c in conflicts:
        if c.kind in ("content", "add/add"):
            click.echo(click.style(f"CONFLICT ({c.kind}): Merge conflict in {c.path}", fg="red"))
        else:
            click.echo(click.style(f"CONFLICT ({c.kind}): {c.path} {c.detail}; the surviving "
                                   "version is left in the working folder", fg="red"))


def plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}{'' if n == 1 else suffix}"
