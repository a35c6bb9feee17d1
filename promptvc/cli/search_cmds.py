"""Search commands: grep (like git grep) and search (ranked full-text + vector search)."""

from __future__ import annotations

import os
import sys

import click

from ._common import DashDashCommand, emit_json, json_option, with_repo


def _progress(label: str):
    """A click progress bar on a terminal (stderr); nothing elsewhere."""
    if not sys.stderr.isatty():
        return None, lambda: None
    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            if total < 200:
                return
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
            state["pos"] = 0
        bar.update(done - state["pos"])
        state["pos"] = done

    def close() -> None:
        if state.get("bar") is not None:
            state["bar"].__exit__(None, None, None)

    return update, close


_TTY = [False]


def _style():
    _TTY[0] = sys.stdout.isatty()
    if _TTY[0]:
        return click.style
    return lambda text, **_kw: text


@click.command(cls=DashDashCommand)
@click.option("-i", "--ignore-case", is_flag=True, help="Ignore case differences.")
@click.option("-E", "--extended-regexp", "extended", is_flag=True,
              help="PATTERN is a POSIX extended regular expression.")
@click.option("-G", "--basic-regexp", "basic", is_flag=True,
              help="PATTERN is a POSIX basic regular expression (the default).")
@click.option("-F", "--fixed-strings", "fixed", is_flag=True, help="PATTERN is a plain string.")
@click.option("-v", "--invert-match", "invert", is_flag=True, help="Show lines that do not match.")
@click.option("-l", "--files-with-matches", "names_only", is_flag=True,
              help="Show only the names of files that match.")
@click.option("-n", "--line-number", "line_numbers", is_flag=True, help="Prefix line numbers.")
@click.option("-c", "--count", is_flag=True, help="Show the number of matching lines per file.")
@click.option("--all-versions", is_flag=True,
              help="Search every stored version of every prompt; each match is prefixed with "
                   "the commits that introduced that version.")
@json_option
@click.argument("pattern")
@click.argument("revs", nargs=-1)
@with_repo
def grep(repo, ignore_case: bool, extended: bool, basic: bool, fixed: bool, invert: bool,
         names_only: bool, line_numbers: bool, count: bool, all_versions: bool, as_json: bool,
         pattern: str, revs: tuple[str, ...]) -> None:
    """Print lines matching PATTERN, like git grep: `pvc grep PATTERN [REV...] [-- PATH...]`.

    Without REV it searches the tracked files in the working folder; with REVs, the tree of
    each (lines are prefixed with `REV:`). Exits 1 when nothing matches.
    """
    from ..grep import compile_pattern, grep_all_versions, grep_rev, grep_worktree

    if all_versions and revs:
        raise click.UsageError("--all-versions searches every version; give no REV with it")
    rx = compile_pattern(pattern, fixed=fixed, extended=extended and not basic,
                         ignore_case=ignore_case)
    ctx = click.get_current_context()
    specs = [_spec(repo, p) for p in ctx.meta.get("paths", [])]
    rev_list = list(revs)
    if not ctx.meta.get("dashdash"):  # like git: trailing arguments that are files are paths
        while rev_list and _is_path(repo, rev_list[-1]):
            specs.insert(0, _spec(repo, rev_list.pop()))
    if not specs:
        here = repo.rel(os.getcwd())
        specs = [here] if here else []
    results = []
    if all_versions:
        update, close = _progress("indexing")
        try:
            results = grep_all_versions(repo, rx, specs, invert, progress=update)
        finally:
            close()
    elif not rev_list:
        results = grep_worktree(repo, rx, specs, invert)
    else:
        for rev in rev_list:
            results.extend(grep_rev(repo, rev, rx, specs, invert))
    if as_json:
        emit_json({"pattern": pattern, "matches": [
            r.to_json(r.prefix[:-1] if r.prefix and not all_versions else None) for r in results]})
        ctx.exit(0 if results else 1)
    style = _style()
    cwd = repo.rel(os.getcwd())
    out = []
    for r in results:
        name = style(r.prefix + _shown(r.path, cwd), fg="magenta")
        sep = style(":", fg="cyan")
        if names_only:
            out.append(name)
        elif count:
            out.append(f"{name}{sep}{len(r.lines)}")
        else:
            for n, text, spans in r.lines:
                num = f"{style(str(n), fg='green')}{sep}" if line_numbers else ""
                out.append(f"{name}{sep}{num}{_highlight(text, spans, style)}")
    if out:
        click.echo("\n".join(out))
    ctx.exit(0 if results else 1)


def _spec(repo, raw: str) -> str:
    if any(ch in raw for ch in "*?["):
        here = repo.rel(os.getcwd())
        return f"{here}/{raw}" if here else raw
    return repo.rel(raw)


def _is_path(repo, arg: str) -> bool:
    from ..errors import PvcError

    try:
        repo.resolve(arg)
        return False
    except PvcError:
        pass
    try:
        rel = repo.rel(arg)
    except PvcError:
        return False
    return (repo.root / rel).exists() or rel in repo.tracked()


def _shown(path: str, cwd: str) -> str:
    if not cwd:
        return path
    return os.path.relpath(path, cwd)


def _highlight(text: str, spans, style) -> str:
    if not spans or style is None or not _TTY[0]:
        return text
    parts, pos = [], 0
    for a, b in spans:
        parts.append(text[pos:a])
        parts.append(style(text[a:b], fg="red", bold=True))
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


@click.command()
@click.argument("query", required=False)
@click.option("--rev", metavar="REV", help="Search the prompts of REV (default HEAD).")
@click.option("--all-versions", is_flag=True,
              help="Search every stored version of every prompt: the text each version brought "
                   "in, so a passage is found at the versions that added it.")
@click.option("-n", "--max-count", "k", type=click.IntRange(min=1), default=10, show_default=True,
              metavar="K", help="Show the K best results.")
@click.option("--like", "like", metavar="PATH", help="Find prompts similar to the file PATH.")
@click.option("--text-only", is_flag=True, help="Use the full-text index only (no embedder).")
@click.option("--reindex", is_flag=True,
              help="Rebuild the search index from the stored versions (vectors already "
                   "computed for the current model are reused).")
@click.option("--status", "show_status", is_flag=True, help="Show what the index holds.")
@json_option
@with_repo
def search(repo, query: str | None, rev: str | None, all_versions: bool, k: int, like: str | None,
           text_only: bool, reindex: bool, show_status: bool, as_json: bool) -> None:
    """Ranked search of prompt text: `pvc search QUERY [--rev REV | --all-versions]`.

    Full-text (BM25) fused with vector similarity when an embedder is configured
    (`pvc config search.embedder wordllama|openai`); full-text only otherwise, and it says
    so. `--like PATH` finds prompts similar to a file.
    """
    from .. import search as S
    from ..embedders import load

    if rev and all_versions:
        raise click.UsageError("give --rev REV or --all-versions, not both")
    embedder = None if text_only else load(repo.config)
    if reindex or show_status:
        if query or like:
            raise click.UsageError("--reindex and --status take no QUERY or --like")
        if reindex:
            update, close = _progress("reindexing")
            try:
                summary = S.reindex(repo, embedder, progress=update)
            finally:
                close()
            if as_json:
                emit_json(summary)
            else:
                click.echo(f"indexed {summary['documents']} versions"
                           + (f", {summary['vectors']} new vectors ({embedder.model})"
                              if embedder is not None else " (full-text only: no embedder)"))
            return
        info = S.status(repo, embedder.model if embedder else None)
        if as_json:
            emit_json(info)
            return
        click.echo(f"documents: {info['documents']} ({info['pending']} versions not indexed yet)")
        for m in info["models"]:
            mark = " (current)" if m["current"] else ""
            click.echo(f"vectors: {m['vectors']} ({m['model']}, {m['dim']} dims){mark}")
        return
    if not query and not like:
        raise click.UsageError("give a QUERY, or --like PATH")
    update, close = _progress("indexing")
    try:
        res = S.search(repo, query or "", rev=rev, all_versions=all_versions, k=k, like=like,
                       embedder=embedder, text_only=text_only, progress=update)
    finally:
        close()
    if as_json:
        emit_json(res.to_json())
        return
    if res.note:
        click.echo(f"note: {res.note}", err=True)
    style = _style()
    lines = []
    for h in res.hits:
        lines.append(f"{h.score:.3f}  " + style(h.path, fg="magenta") + "  "
                     + style(f"version {h.version[:8]}", fg="yellow")
                     + (f"  commit {h.commit[:8]}" if h.commit else ""))
        lines.append("    " + _highlight(h.snippet, h.highlights, style))
    if lines:
        click.echo("\n".join(lines))
    elif not as_json:
        click.echo("no results", err=True)


COMMANDS = [grep, search]
