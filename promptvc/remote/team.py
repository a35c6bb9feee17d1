"""Team settings: the branch-database backend a team shares, recorded on the primary.

A repository whose remote names a backend (`pvc remote add ... --admin-url URL` or
`--turso-org ORG`) records it on the primary with its next push or branch database: the
backend kind, the sqld admin URL or the Turso organisation and group, and the prefix of
branch database names. Every fetch (and so every clone) reads them back into the
`[team "REMOTE"]` section of `.pvc/config`, so a teammate's `pvc branch NAME` creates a
branch database with no setting typed. Settings in the remote's own section win.

Never recorded or adopted: tokens, and the names of the environment variables that hold
them (a primary naming `TURSO_AUTH_TOKEN` as an admin key would make a clone send that
token to a host the primary chose), and the Turso API URL (the platform token goes only to
https://api.turso.tech unless this repository says otherwise). What a primary sends is
validated before use; a value that fails is dropped and the reason kept, so `pvc branch`
can say why a branch got no database.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from ..config import Config

KEYS = ("backend", "admin_url", "turso_org", "turso_group", "db_prefix")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")


def section(remote_name: str) -> str:
    return f'team "{remote_name}"'


def settings_of(remote) -> dict[str, str] | None:
    """What REMOTE's own configuration says a team should share; None without a backend
    configured here (settings adopted from the primary are not recorded back)."""
    from .db_backends import slug

    if remote.team_source == "primary":
        return None
    if remote.admin_url:
        from .db_backends import SqldBackend

        base = SqldBackend(remote.admin_url, remote.url).database_of_url(remote.url)
        return {"backend": "sqld", "admin_url": remote.admin_url,
                "db_prefix": remote.db_prefix or slug(base)}
    if remote.turso_org:
        from .db_backends import TursoBackend

        base = TursoBackend(remote.turso_org, None, remote.url).database_of_url(remote.url)
        return {"backend": "turso", "turso_org": remote.turso_org,
                "turso_group": remote.turso_group, "db_prefix": remote.db_prefix or slug(base)}
    return None


def fingerprint(settings: dict[str, str]) -> str:
    return json.dumps(settings, sort_keys=True)


def _state_key(remote) -> str:
    return f"team.recorded.{remote.url}"


def record_statements(repo, remote) -> tuple[list[tuple[str, tuple]], str | None]:
    """Statements that record REMOTE's team settings on its primary, when they differ from
    what this repository recorded last; and the fingerprint to remember after success."""
    from ..clock import now_iso
    from ..store.team import replace_statements

    settings = settings_of(remote)
    if settings is None:
        return [], None
    fp = fingerprint(settings)
    if repo.store.get_state(_state_key(remote)) == fp:
        return [], None
    return replace_statements(settings, now_iso()), fp


def remember_recorded(repo, remote, fp: str | None) -> None:
    if fp is not None:
        repo.store.set_state(_state_key(remote), fp)


def forget_recorded(repo, remote) -> None:
    """The primary lost what we recorded there (a reseed): record it again on the next push."""
    repo.store.set_state(_state_key(remote), None)


def validate(raw: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(the usable settings, a problem for each dropped one) of what a primary holds."""
    from .remotes import check_url

    good: dict[str, str] = {}
    problems: list[str] = []
    backend = raw.get("backend")
    if backend not in ("sqld", "turso"):
        if backend is not None:
            problems.append(f"backend {_show(backend)} is neither sqld nor turso")
        return {}, problems
    good["backend"] = backend
    if backend == "sqld":
        url = raw.get("admin_url", "")
        try:
            check_url(url)
            scheme = urllib.parse.urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                raise ValueError
        except Exception:  # noqa: BLE001 - ConfigError or ValueError: the value is unusable
            problems.append(f"admin_url {_show(url)} is not an http(s) URL without credentials")
            return {}, problems
        good["admin_url"] = url
    else:
        org = raw.get("turso_org", "")
        if not _NAME.match(org):
            problems.append(f"turso_org {_show(org)} is not a Turso organisation name")
            return {}, problems
        good["turso_org"] = org
        group = raw.get("turso_group", "default")
        if _NAME.match(group):
            good["turso_group"] = group
        else:
            problems.append(f"turso_group {_show(group)} is not a group name; using 'default'")
    prefix = raw.get("db_prefix")
    if prefix is not None:
        if _PREFIX.match(prefix):
            good["db_prefix"] = prefix
        else:
            problems.append(f"db_prefix {_show(prefix)} is not [a-z0-9-], at most 40 "
                            "characters; using the database name")
    for key in sorted(set(raw) - set(KEYS)):
        problems.append(f"unknown setting {_show(key)} ignored")
    return good, problems


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def adopt(config: Config, remote_name: str, raw: dict[str, str] | None) -> bool:
    """Store what the primary says in `[team "REMOTE"]` (replacing what was there).
    RAW None: the primary has no team settings table; nothing changes. True if changed."""
    if raw is None:
        return False
    good, problems = validate(raw)
    sec = section(remote_name)
    new = dict(good)
    if problems:
        new["rejected"] = "; ".join(problems)
    old = dict(config.parser.items(sec)) if config.parser.has_section(sec) else None
    if old == new or (old is None and not new):
        return False
    if config.parser.has_section(sec):
        config.parser.remove_section(sec)
    if new:
        config.parser.add_section(sec)
        for key, value in new.items():
            config.parser.set(sec, key, value)
    config.save()
    return True


def adopted(config: Config, remote_name: str) -> dict[str, str]:
    sec = section(remote_name)
    if not config.parser.has_section(sec):
        return {}
    return dict(config.parser.items(sec))


def why_no_database(config: Config, remote) -> str:
    """Why a branch made with REMOTE gets no database (for a note on stderr)."""
    team = adopted(config, remote.name)
    if team.get("rejected"):
        return (f"the branch-database settings recorded on {remote.name}'s primary were not "
                f"used: {team['rejected']}")
    return (f"remote '{remote.name}' has no branch-database backend: none is set in this "
            "repository and none was recorded on the primary at the last fetch")
