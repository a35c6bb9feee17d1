"""Maintenance: fsck, gc, config, debug."""

from __future__ import annotations

import sys

import click

from ..errors import PvcError
from ._common import emit_json, json_option, plural, with_repo


@click.command()
@json_option
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
@click.option("--repair", is_flag=True, help="Restore damaged objects from the remote, the "
              "working folder or other diff chains; say exactly what cannot be restored.")
@click.option("--no-sync", is_flag=True, help="With --repair: use the local replicas as they are.")
def fsck(as_json: bool, quiet: bool, repair: bool, no_sync: bool) -> None:
    """Verify the repository: every hash, every diff chain, every ref.

    Reports every problem found and exits 1 if there is any. A missing, empty or
    unreadable database is damage too; `--repair` then rebuilds it from the remote.
    """
    from ..errors import DamagedRepository
    from ._common import open_repo

    try:
        repo = open_repo()
    except DamagedRepository as exc:
        if not repair:
            raise
        _rebuild(exc, as_json)
        return
    try:
        _fsck(repo, as_json, quiet, repair, no_sync)
    finally:
        repo.close()


def _rebuild(damage, as_json: bool) -> None:
    import os
    from pathlib import Path

    from ..errors import NotARepository
    from ..remote.rebuild import rebuild_from_remote
    from ..repo import find_root

    root = find_root(Path(os.getcwd()))
    if root is None:  # fsck found the repository a moment ago: it was moved away since
        raise NotARepository(f"not a pvc repository (or any parent up to /): {os.getcwd()}",
                             hint="run `pvc fsck --repair` inside the repository")
    res = rebuild_from_remote(root)
    if as_json:
        emit_json({"ok": True, "rebuilt_from": res.remote, "damaged_copy": str(res.kept_as),
                   "branch": res.branch, "branches": res.branches, "commits": res.commits})
        return
    click.echo(f"{damage.message}")
    click.echo(f"rebuilt the database from {res.remote}: {plural(res.commits, 'commit')}, "
               f"{plural(len(res.branches), 'branch', 'es')}; the damaged file is kept as "
               f"{res.kept_as.name}")
    click.echo("your working files were not touched; `pvc status` shows how they differ")


def _fsck(repo, as_json: bool, quiet: bool, repair: bool, no_sync: bool) -> None:
    if repair:
        _repair(repo, as_json, sync=not no_sync)
        return
    from ._common import Progress

    bar = Progress("checking versions", quiet=as_json or quiet)
    try:
        report = repo.fsck(progress=bar.index if bar.enabled else None)
    finally:
        bar.close()
    if as_json:
        emit_json(report.to_json())
    else:
        for p in report.problems:
            click.echo(click.style("error: ", fg="red") + str(p))
        summary = (f"checked {plural(report.versions, 'version')} (file contents and trees), "
                   f"{plural(report.commits, 'commit')}, {plural(report.refs, 'ref')}")
        if report.ok:
            if not quiet:
                click.echo(f"{summary}: no problems found")
        else:
            click.echo(f"{summary}: {plural(len(report.problems), 'problem')} found", err=True)
            click.echo("hint: the damaged objects are named above; restore them from a clone "
                       "or backup", err=True)
    if not report.ok:
        sys.exit(1)


def _repair(repo, as_json: bool, sync: bool) -> None:
    from ..repair import repair

    rep = repair(repo, sync=sync)
    if as_json:
        emit_json({"ok": rep.ok, "restored": [{"object": o, "what": w, "source": src}
                                              for o, w, src in rep.restored],
                   "remaining": [p.to_json() for p in rep.remaining]})
    else:
        for obj, what, src in rep.restored:
            click.echo(f"restored {what} {obj[:12]} from {src}")
        for p in rep.remaining:
            click.echo(click.style("cannot restore: ", fg="red") + str(p))
        if rep.ok:
            click.echo("repository is clean" + (" after repair" if rep.restored else ""))
        else:
            click.echo(f"{plural(len(rep.remaining), 'problem')} remain", err=True)
            click.echo("hint: the objects listed above exist in no copy pvc can reach; restore "
                       "the repository from a backup or a clone", err=True)
    if not rep.ok:
        sys.exit(1)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _check_expire(ctx, param, value):
    if value is None:
        return None
    from ..errors import ConfigError
    from ..maintenance import reflog_expire_days

    try:
        reflog_expire_days(None, value)
    except ConfigError:
        raise click.BadParameter(f"{value!r} is not a number of days (1 or more) or "
                                 "'never'") from None
    return value


@click.command()
@click.option("--aggressive", is_flag=True, help="Also choose every version's stored form "
              "again (snapshot or diff) under the current chain settings; slower.")
@click.option("--reflog-expire", metavar="DAYS|never", callback=_check_expire,
              help="Drop reflog entries older than DAYS (default: config gc.reflog_expire, "
              "else 90); each ref keeps its newest entry.")
@click.option("--no-vacuum", is_flag=True, help="Skip rewriting the database file.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@json_option
@with_repo
def gc(repo, aggressive: bool, reflog_expire: str | None, no_vacuum: bool, quiet: bool,
       as_json: bool) -> None:
    """Clean up and compact the repository database.

    Expires old reflog entries (never a ref's newest, never within the expiry, 90 days by
    default), merges the search index, and rewrites the database without its free pages
    (VACUUM). `--aggressive` also re-deltas every version. Ids, contents, refs and history
    stay the same; it is safe to interrupt.
    """
    from ..maintenance import gc as run_gc
    from ._common import Progress

    bar = Progress("re-delta", quiet=as_json or quiet)
    try:
        rep = run_gc(repo, aggressive=aggressive, reflog_expire=reflog_expire,
                     vacuum=not no_vacuum, progress=bar if bar.enabled else None)
    finally:
        bar.close()
    if as_json:
        emit_json(rep.to_json())
        return
    if quiet:
        return
    for note in rep.notes:
        click.echo(f"warning: {note}", err=True)
    if rep.reflog_expire_days is None:
        click.echo("reflog: kept every entry (expiry: never)")
    else:
        n = rep.reflog_expired
        click.echo(f"reflog: expired {n} {'entry' if n == 1 else 'entries'} older than "
                   f"{rep.reflog_expire_days} days")
    if aggressive:
        click.echo(f"re-delta: checked {plural(rep.versions_checked, 'version')}; "
                   f"{rep.to_diff} snapshots became diffs, {rep.to_snapshot} diffs became "
                   f"snapshots")
    if rep.vacuumed:
        click.echo(f"database: {_mb(rep.bytes_before)} -> {_mb(rep.bytes_after)}")


@click.command()
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--unset", is_flag=True, help="Remove KEY.")
@click.option("-l", "--list", "list_", is_flag=True, help="List every setting.")
@with_repo
def config(repo, key: str | None, value: str | None, unset: bool, list_: bool) -> None:
    """Get or set a repository setting (`pvc config user.name NAME`).

    For example `pvc config user.name "Jane Doe"`, `pvc config remote.origin.timeout 30`;
    `pvc config -l` lists every setting.
    """
    if list_ or not key:
        for k, v in repo.config.items():
            click.echo(f"{k}={v}")
        return
    from ..errors import ConfigError, ErrorCode

    try:
        if unset:
            if not repo.config.unset_key(key):
                click.echo(f"error: {key} is not set", err=True)
                sys.exit(1)
            return
        if value is None:
            current = repo.config.get_key(key)
            if current is None:
                sys.exit(1)
            click.echo(current)
            return
        repo.config.set_key(key, value)  # refuses `timeout = -5` before it is saved
    except ConfigError as exc:
        if exc.error_code is ErrorCode.CONFIG_KEY:
            raise click.UsageError(exc.message) from None
        raise


@click.group()
def debug() -> None:
    """Look inside the storage (for the curious and for bug reports)."""


@debug.command("chain")
@click.argument("path")
@json_option
@with_repo
def debug_chain(repo, path: str, as_json: bool) -> None:
    """Show how the versions of PATH are stored: snapshots, diffs, chain lengths."""
    rel = repo.rel(path)
    rows = repo.versions_of_path(rel)
    if not rows:
        raise PvcError(f"no versions of '{rel}' are stored")
    data = [{"version": r.id, "storage": r.storage, "codec": r.codec, "size": r.size,
             "stored": len(r.data), "chain_len": r.chain_len, "chain_bytes": r.chain_bytes}
            for r in rows]
    if as_json:
        emit_json(data)
        return
    click.echo(f"{'version':<12} {'storage':<9} {'chain':>5} {'size':>8} {'stored':>8}")
    for d in data:
        click.echo(f"{d['version'][:12]:<12} {d['storage']:<9} {d['chain_len']:>5} "
                   f"{d['size']:>8} {d['stored']:>8}")
    full = sum(d["size"] for d in data)
    stored = sum(d["stored"] for d in data)
    snaps = sum(1 for d in data if d["storage"] == "snapshot")
    longest = max(d["chain_len"] for d in data)
    ratio = stored / full if full else 0
    click.echo(f"{plural(len(data), 'version')}, {plural(snaps, 'snapshot')}, longest chain "
               f"{longest}; stored {stored} bytes for {full} bytes of content ({ratio:.1%})")


COMMANDS = [fsck, gc, config, debug]
