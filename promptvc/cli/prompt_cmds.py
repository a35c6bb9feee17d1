"""Prompt-aware commands: render, check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..errors import PathError, PvcError
from ._common import emit_json, json_option, plural, write_bytes


def _parse_vars(pairs: tuple[str, ...]) -> dict:
    out: dict = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or name == ":":
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE (or NAME:=JSON)",
                                     param_hint="-v")
        if name.endswith(":"):
            name = name[:-1]
            try:
                out[name] = json.loads(value)
            except ValueError as exc:
                raise click.BadParameter(f"the value of '{name}' is not JSON: {exc}",
                                         param_hint="-v") from None
        else:
            out[name] = value
    return out


def _open_repo_or_none():
    from ..repo import Repo, find_root

    root = find_root(Path(os.getcwd()))
    return Repo(root) if root is not None else None


def _work_target(repo, raw: str):
    """(snapshot, repository-relative path) of a file in the working folder."""
    from ..prompts.sources import FolderSnapshot

    if repo is not None:
        rel = repo.rel(raw)
        return FolderSnapshot(repo.root), rel
    root = Path(os.getcwd()).resolve()
    full = Path(os.path.normpath(os.path.join(root, raw)))
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise PathError(f"'{raw}' is outside the current folder {root}",
                        hint="run pvc from a folder that holds the file") from None
    return FolderSnapshot(root), rel


@click.command()
@click.argument("target", metavar="[REV:]PATH")
@click.option("-v", "--var", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A variable (repeatable); NAME:=JSON for lists, numbers and objects.")
@click.option("--sample", is_flag=True, help="Use the file's `sample:` values (.prompty).")
@json_option
def render(target: str, pairs: tuple[str, ...], sample: bool, as_json: bool) -> None:
    """Render a prompt file: REV:PATH as committed, or PATH from the working folder.

    Defaults come from the front matter; `-v` overrides them. Jinja and .prompty files render
    in Jinja2's sandbox, others with the logic-less `{{var}}` / Handlebars renderer. Includes
    come from the same commit. Chat formats print their messages (`--json`: a list).
    """
    from ..prompts.render import render_file
    from ..prompts.sources import TreeSnapshot

    variables = _parse_vars(pairs)
    repo = _open_repo_or_none()
    try:
        rev = None
        if ":" in target and not os.path.exists(target):
            if repo is None:
                raise PvcError(f"'{target}' names a revision, but this is not a pvc repository",
                               hint="run it inside a repository, or give a file path")
            rev, _, path = target.partition(":")
            rev = rev or "HEAD"
            path = repo.rel(path) if path.startswith(("./", "../")) else path
            cid = repo.resolve(rev)
            snapshot = TreeSnapshot(repo.tree(cid), repo.read_version, key=cid)
            data = snapshot.read(path)
            if data is None:
                from .history import missing_path_hint

                raise PathError(f"path '{path}' does not exist in {rev} ({cid[:8]})",
                                hint=missing_path_hint(repo, rev, path, "render"))
            key = snapshot.version(path)
        else:
            snapshot, path = _work_target(repo, target)
            data = snapshot.read(path)
            if data is None:
                raise PathError(f"'{target}' is not a readable file",
                                hint="give a prompt file, or REV:PATH for a committed one")
            key = None
        try:
            out = render_file(data, path, variables, snapshot, key=key, use_sample=sample)
        except PvcError as exc:
            if as_json:
                emit_json({"ok": False, "error": exc.message})
                sys.exit(1)
            raise
        if as_json:
            emit_json(dict(out.to_json(), ok=True, rev=rev))
        else:
            text = out.text
            if sys.stdout.isatty() and text and not text.endswith("\n"):
                text += "\n"  # keep the shell prompt off the last line; pipes get exact text
            write_bytes(text.encode("utf-8"))
    finally:
        if repo is not None:
            repo.close()


_CHECKED = (".md", ".markdown", ".mdx", ".txt", ".prompt", ".prompty", ".j2", ".jinja",
            ".jinja2", ".hbs", ".mustache", ".tmpl")


def _files_to_check(repo, paths: tuple[str, ...]):
    from ..prompts.sources import FolderSnapshot

    if not paths:
        if repo is None:
            raise PvcError("not a pvc repository, and no files were given",
                           hint="give the files to check: `pvc check PATH...`")
        return FolderSnapshot(repo.root), sorted(
            p for p in repo.tracked() if (repo.root / p).is_file())
    snapshot = None
    files: list[str] = []
    for raw in paths:
        snap, rel = _work_target(repo, raw)
        snapshot = snapshot or snap
        full = snap.root / rel if rel else snap.root
        if full.is_dir():
            for base, dirs, names in os.walk(full):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and
                                 d not in ("node_modules", "__pycache__"))
                for name in sorted(names):
                    if name.lower().endswith(_CHECKED):
                        files.append((Path(base) / name).relative_to(snap.root).as_posix())
        elif full.is_file():
            files.append(rel)
        else:
            raise PathError(f"'{raw}' does not exist", hint="give files or folders to check")
    return snapshot, list(dict.fromkeys(files))


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
@json_option
def check(paths: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """Check prompt files (the tracked ones, or PATHS): front matter, templates, variables,
    includes, conflict markers. Exit 1 on any problem.

    \b
    Each problem is one line, `path:line: message`. Works outside a pvc repository too
    (paths relative to the current folder), e.g. from the pre-commit framework.
    """
    from ..prompts.check import check_files

    repo = _open_repo_or_none()
    try:
        snapshot, files = _files_to_check(repo, paths)
        problems = check_files(snapshot, files) if files else []
    finally:
        if repo is not None:
            repo.close()
    if as_json:
        emit_json({"ok": not problems, "checked": len(files),
                   "problems": [p.to_json() for p in problems]})
    else:
        for p in problems:
            click.echo(str(p))
        with_problems = len({p.path for p in problems})
        if problems:
            click.echo(f"{plural(len(problems), 'problem')} in {plural(with_problems, 'file')} "
                       f"(checked {plural(len(files), 'file')})", err=True)
        elif not quiet:
            click.echo(f"checked {plural(len(files), 'file')}: no problems found")
    if problems:
        sys.exit(1)


COMMANDS = [render, check]
