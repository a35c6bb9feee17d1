"""History commands: log, show, diff, reflog."""

from __future__ import annotations

import click

from ..errors import PathError, PvcError
from ._common import DashDashCommand, color_diff, emit_json, json_option, plural, with_repo, write_bytes


def _split_revs_and_paths(repo, args: tuple[str, ...], max_revs: int) -> tuple[list[str], list[str]]:
    """Like git: without `--`, an argument that is not a revision but a file is a path."""
    ctx = click.get_current_context()
    paths = list(ctx.meta.get("paths", []))
    revs: list[str] = []
    for i, arg in enumerate(args):
        if ctx.meta.get("dashdash") or len(revs) >= max_revs:
            if ctx.meta.get("dashdash"):
                revs.append(arg)
            else:
                paths.extend(args[i:])
                break
            continue
        try:
            if ".." in arg:
                revs.append(arg)
                continue
            repo.resolve(arg)
            revs.append(arg)
        except PvcError:
            if (repo.root / repo.rel(arg)).exists() or repo.rel(arg) in repo.tracked():
                paths.extend(args[i:])
                break
            raise
    if len(revs) > max_revs:
        raise click.UsageError(f"too many revisions: {' '.join(revs)}")
    return revs, paths


def _print_commit(info, oneline: bool, changes=None, decorate: dict | None = None) -> None:
    click.echo(_format_commit(info, oneline, changes, decorate, _styler()), nl=False)


def _styler():
    """click.style on a terminal, plain text elsewhere (no escape codes to strip)."""
    import sys

    if sys.stdout.isatty():
        return click.style
    return lambda text, **_kw: text


def _format_commit(info, oneline: bool, changes, decorate: dict | None, style) -> str:
    out: list[str] = []
    deco = ""
    if decorate and info.id in decorate:
        deco = " (" + ", ".join(decorate[info.id]) + ")"
    if oneline:
        out.append(style(info.short, fg="yellow") + style(deco, fg="cyan") + " " + info.summary)
    else:
        out.append(style(f"commit {info.id}", fg="yellow") + style(deco, fg="cyan"))
        if len(info.parents) > 1:
            out.append("Merge: " + " ".join(p[:8] for p in info.parents))
        out.append(f"Author: {info.author}")
        out.append(f"Date:   {info.date}")
        out.append("")
        out.extend(f"    {line}" for line in (info.message.splitlines() or [""]))
    if changes is not None:
        if not oneline:
            out.append("")
        out.extend(_stat_lines([(_stat_name(c), c.insertions, c.deletions) for c in changes],
                               style))
    if not oneline:
        out.append("")
    return "\n".join(out) + "\n"


def _stat_lines(items: list[tuple[str, int, int]], style) -> list[str]:
    """A diffstat: `name | N +++--` per (name, insertions, deletions), aligned, then a
    summary line (the same for log, show and diff)."""
    out = []
    width = max((len(name) for name, _, _ in items), default=0)
    for name, ins, dels in items:
        bar = style("+" * min(ins, 40), fg="green") + style("-" * min(dels, 40), fg="red")
        out.append(f" {name:<{width}} | {ins + dels:>4} {bar}")
    ins = sum(i for _, i, _ in items)
    dels = sum(d for _, _, d in items)
    out.append(f" {plural(len(items), 'file')} changed, {plural(ins, 'insertion')}(+), "
               f"{plural(dels, 'deletion')}(-)")
    return out


def _stat_name(c) -> str:
    return f"{c.old_path} => {c.path}" if c.old_path else c.path


def _decorations(repo) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    head = repo.head()
    current = repo.current_branch()
    for name, target in repo.branches():
        label = f"HEAD -> {name}" if name == current and target == head else name
        out.setdefault(target, []).append(label)
    for name, target in repo.remote_branches():
        out.setdefault(target, []).append(name)
    for name, target in repo.tags():
        out.setdefault(target, []).append(f"tag: {name}")
    return out


@click.command(cls=DashDashCommand)
@click.option("-n", "--max-count", type=click.IntRange(min=0), metavar="N",
              help="Show at most N commits.")
@click.option("--oneline", is_flag=True, help="One line per commit.")
@click.option("--stat", is_flag=True, help="List the files each commit changed.")
@click.option("-p", "--patch", is_flag=True,
              help="Show each commit's diff, with what changed in the prompts' metadata.")
@click.option("--follow-includes", is_flag=True,
              help="With one PATH: also commits that changed a file it includes.")
@click.option("-S", "pickaxe_s", metavar="STRING",
              help="Only commits that change the number of occurrences of STRING.")
@click.option("-G", "pickaxe_g", metavar="REGEX",
              help="Only commits with an added or removed line matching REGEX (extended).")
@click.option("-i", "--regexp-ignore-case", "pickaxe_i", is_flag=True,
              help="Match -S / -G without regard to case.")
@json_option
@click.argument("revs", nargs=-1)
@with_repo
def log(repo, max_count: int | None, oneline: bool, stat: bool, patch: bool,
        follow_includes: bool, as_json: bool, revs: tuple[str, ...],
        pickaxe_s: str | None = None, pickaxe_g: str | None = None,
        pickaxe_i: bool = False) -> None:
    """Show commits, newest first: `pvc log [REV | A..B] [-S STRING | -G REGEX] [-- PATH...]`.

    With paths, only commits that changed them (renames are followed). -S and -G search
    every change like git's pickaxe (merge commits are not diffed).
    """
    rev_list, paths = _split_revs_and_paths(repo, revs, 1)
    rev = rev_list[0] if rev_list else None
    exclude = None
    if rev and ".." in rev:
        a, _, b = rev.partition("..")
        if b.startswith("."):
            raise click.UsageError("use A..B with log (three dots are for diff)")
        exclude, rev = (a or "HEAD"), (b or "HEAD")
    rels = [repo.rel(p) for p in paths]
    if follow_includes:
        if len(rels) != 1 or exclude is not None:
            raise click.UsageError("--follow-includes takes exactly one PATH and no A..B range")
        from ..prompts.includes import commits_following_includes

        commits = commits_following_includes(repo, rev, rels[0], max_count)
    elif pickaxe_s is not None or pickaxe_g is not None:
        from ..grep import pickaxe, pickaxe_log

        if pickaxe_s is not None and pickaxe_g is not None:
            raise click.UsageError("give -S or -G, not both")
        wanted = pickaxe(repo, string=pickaxe_s, regex=pickaxe_g, ignore_case=pickaxe_i,
                         specs=rels)
        commits = pickaxe_log(repo, wanted, rev, exclude, max_count)
    else:
        commits = repo.log(rev, limit=max_count, paths=rels or None, exclude=exclude)
    if not commits and rels:
        _check_known_paths(repo, rels)
    changes = repo.changes_many([c.id for c in commits]) if (stat or as_json) else {}
    if rels:  # like git: the patch and the stat of each commit show only the paths given
        changes = {cid: _changes_under(chs, rels) for cid, chs in changes.items()}
    if as_json:
        emit_json([
            dict(c.to_json(), changes=[
                {"status": ch.status, "path": ch.path, "old_path": ch.old_path,
                 "insertions": ch.insertions, "deletions": ch.deletions}
                for ch in changes.get(c.id, [])],
                **({"patch": _commit_pairs_json(repo, c, rels)} if patch else {}))
            for c in commits
        ])
        return
    deco = _decorations(repo)
    style = _styler()
    if patch:
        for c in commits:
            click.echo(_format_commit(c, oneline, changes.get(c.id) if stat else None, deco,
                                      style), nl=False)
            color_diff(_commit_patch(repo, c, rels))
            if oneline:
                continue
            click.echo("")
        return
    text = "".join(_format_commit(c, oneline, changes.get(c.id) if stat else None, deco, style)
                   for c in commits)
    if text:
        click.echo(text, nl=False)


def _changes_under(changes: list, paths: list[str]) -> list:
    """The CHANGES (change rows) whose path, or old path, is under PATHS."""
    from ..grep import path_matches

    return [c for c in changes if path_matches(c.path, paths)
            or (c.old_path and path_matches(c.old_path, paths))]


def _commit_trees(repo, info, paths: list[str] | None) -> tuple[dict, dict]:
    """The trees of a commit's first parent and of the commit, cut to PATHS if given."""
    old = repo.tree(info.parents[0]) if info.parents else {}
    new = repo.tree(info.id)
    if paths:
        from ..grep import path_matches

        old = {p: v for p, v in old.items() if path_matches(p, paths)}
        new = {p: v for p, v in new.items() if path_matches(p, paths)}
    return old, new


def _commit_patch(repo, info, paths: list[str] | None = None) -> bytes:
    """The diff of a commit against its first parent (of PATHS only, if given), with
    metadata summaries above files."""
    from ..prompts.meta import annotate, tree_pairs

    old, new = _commit_trees(repo, info, paths)
    return annotate(repo.diff_trees(old, new), tree_pairs(repo, old, new))


def _commit_pairs_json(repo, info, paths: list[str] | None = None) -> list[dict]:
    from ..prompts.meta import pairs_json, tree_pairs

    old, new = _commit_trees(repo, info, paths)
    return pairs_json(tree_pairs(repo, old, new))


def _check_known_paths(repo, rels: list[str]) -> None:
    """Like git: a path that is not in the working folder and that no commit ever touched
    is an error, not an empty log."""
    tracked = repo.tracked()
    for rel in rels:
        if rel in tracked or (repo.root / rel).exists() or repo.commits_touching([rel]):
            continue
        raise PvcError(f"path '{rel}' is unknown: it is not in the working folder and no "
                       "commit changed it",
                       hint="check the spelling; `pvc status` and `pvc log --stat` show the "
                            "paths pvc knows")


def missing_path_hint(repo, rev: str, path: str, command: str = "show") -> str:
    """What to suggest when REV has no PATH: a close name (for `pvc COMMAND REV:NAME`),
    else some of the files it has."""
    import difflib

    try:
        names = sorted(repo.tree(repo.resolve(rev)))
    except PvcError:
        return f"check the revision `{rev}`"
    if not names:
        return f"{rev} has no files"
    close = difflib.get_close_matches(path, names, n=1, cutoff=0.6)
    same_name = [n for n in names if n.rsplit("/", 1)[-1] == path.rsplit("/", 1)[-1]]
    guess = (same_name or close or [None])[0]
    if guess:
        return f"did you mean `pvc {command} {rev}:{guess}`?"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{rev} has {plural(len(names), 'file')}: {shown}"


@click.command(cls=DashDashCommand)
@click.argument("objects", nargs=-1)
@click.option("--stat", is_flag=True, help="Show a diffstat instead of the diff.")
@click.option("--meta", is_flag=True, help="With REV:PATH: the front matter as data (model, "
              "parameters, declared inputs, roles, includes).")
@json_option
@with_repo
def show(repo, objects: tuple[str, ...], stat: bool, meta: bool, as_json: bool) -> None:
    """Show a commit and its diff, or a file's content (REV:PATH).

    `pvc show REV:PATH` prints the file as committed, byte for byte. Paths after `--` limit
    a commit's diff and stat to them.
    """
    rels = [repo.rel(p) for p in click.get_current_context().meta.get("paths", [])]
    for obj in objects or ("HEAD",):
        if meta and ":" not in obj:
            raise click.UsageError(f"--meta shows a file: give REV:PATH, not '{obj}'")
        if ":" in obj:
            rev, _, path = obj.partition(":")
            rel = repo.rel(path) if path.startswith(("./", "../")) else path
            try:
                data = repo.read(rev or "HEAD", rel)
            except PathError as exc:
                exc.hint = missing_path_hint(repo, rev or "HEAD", rel)
                raise
            if meta:
                from ..prompts.formats import parse
                from ..prompts.meta import describe, describe_text

                info = describe(parse(data, rel))
                if as_json:
                    emit_json(dict(info, rev=rev or "HEAD"))
                else:
                    click.echo(describe_text(info), nl=False)
                continue
            if as_json:
                text = data.decode("utf-8", "replace")
                emit_json({"rev": rev or "HEAD", "path": path, "content": text})
            else:
                write_bytes(data)
            continue
        info = repo.commit(obj)
        changes = repo.changes(info.id)
        if rels:
            changes = _changes_under(changes, rels)
        if as_json:
            emit_json(dict(info.to_json(), changes=[
                {"status": c.status, "path": c.path, "old_path": c.old_path,
                 "version": c.version_id, "insertions": c.insertions, "deletions": c.deletions}
                for c in changes]))
            continue
        _print_commit(info, False, changes if stat else None, _decorations(repo))
        if not stat:
            color_diff(_commit_patch(repo, info, rels))


@click.command(cls=DashDashCommand)
@click.option("--stat", is_flag=True, help="Summarise the changes per file.")
@click.option("--name-only", is_flag=True, help="List the changed file names only.")
@json_option
@click.argument("revs", nargs=-1)
@with_repo
def diff(repo, stat: bool, name_only: bool, as_json: bool, revs: tuple[str, ...]) -> None:
    """Show changes as a unified diff (`git apply` accepts it).

    `git apply` and `patch -p1` accept the output.

    \b
    pvc diff                 working files vs HEAD
    pvc diff REV             working files vs REV
    pvc diff A B             A vs B
    pvc diff A..B            A vs B
    pvc diff A...B           changes on B since it forked from A (B defaults to HEAD)

    Above a prompt file's diff, what changed in its front matter (model, parameters,
    inputs) in words; `--json` gives both per file.
    """
    rev_list, paths = _split_revs_and_paths(repo, revs, 2)
    a = b = None
    if len(rev_list) == 1 and "..." in rev_list[0]:
        left, _, right = rev_list[0].partition("...")
        base = repo.merge_base(left or "HEAD", right or "HEAD")
        if base is None:
            raise PvcError(f"{left or 'HEAD'} and {right or 'HEAD'} have no common "
                                       "ancestor; use `pvc diff A B`")
        a, b = base, (right or "HEAD")
    elif len(rev_list) == 1 and ".." in rev_list[0]:
        left, _, right = rev_list[0].partition("..")
        a, b = left or "HEAD", right or "HEAD"
    elif rev_list:
        a = rev_list[0]
        b = rev_list[1] if len(rev_list) > 1 else None
    if as_json:
        from ..prompts.meta import diff_pairs, pairs_json

        emit_json(pairs_json(diff_pairs(repo, a, b, paths)))
        return
    data = repo.diff(a, b, paths)
    if stat or name_only:
        from ..delta import parse_hunks

        files = _split_files(data)
        items = []
        for name, body in files:
            if name_only:
                click.echo(name)
                continue
            hs = parse_hunks(body) if b"@@" in body else []
            ins = sum(1 for h in hs for l in h.lines if l[:1] == b"+")
            dels = sum(1 for h in hs for l in h.lines if l[:1] == b"-")
            items.append((name, ins, dels))
        if items:
            click.echo("\n".join(_stat_lines(items, _styler())))
        return
    if data:
        from ..prompts.meta import annotate, diff_pairs

        data = annotate(data, diff_pairs(repo, a, b, paths))
    color_diff(data)


def _split_files(data: bytes) -> list[tuple[str, bytes]]:
    out = []
    for chunk in data.split(b"diff --git ")[1:]:
        first = chunk.split(b"\n", 1)[0].decode("utf-8", "replace")
        name = first.split(" b/", 1)[-1]
        out.append((name, chunk))
    return out


@click.command()
@click.argument("ref", required=False)
@click.option("-n", "--max-count", type=click.IntRange(min=0), metavar="N", help="Show at most N entries.")
@json_option
@with_repo
def reflog(repo, ref: str | None, max_count: int | None, as_json: bool) -> None:
    """Show who moved a branch or tag, where and when.

    Without REF, the moves of every branch and tag, newest first.
    """
    from .. import refs as R

    entries = repo.reflog(ref, max_count)
    if as_json:
        emit_json([{"ref": e.ref, "old": e.old, "new": e.new, "who": e.who, "at": e.at,
                    "action": e.action} for e in entries])
        return
    counters: dict[str, int] = {}
    for e in entries:
        n = counters.get(e.ref, 0)
        counters[e.ref] = n + 1
        target = (e.new or "0" * 8)[:8]
        click.echo(click.style(target, fg="yellow") + f" {R.short(e.ref)}@{{{n}}}: {e.action} "
                   + click.style(f"({e.who}, {e.at})", dim=True))


COMMANDS = [log, show, diff, reflog]
