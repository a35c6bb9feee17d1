"""Remote definitions (in `.pvc/config`) and their tokens (never in the repository).

A remote is a libSQL primary: Turso Cloud (`libsql://db-org.turso.io`) or a self-hosted
sqld (`http://localhost:8080`, `http://NAME.localhost:8080` with namespaces). Its token
comes from an environment variable (`TURSO_AUTH_TOKEN` unless the remote names another) or
from the user's credentials file `~/.config/pvc/credentials` (INI, one section per remote
URL, readable by the owner only). Tokens are never written into the repository, printed
or logged.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import stat
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..config import REMOTE_NAME, SETTINGS, Config, check_value, user_config_dir
from ..errors import ConfigError, ErrorCode, RemoteError
from ..fileio import write_atomic

DEFAULT_TOKEN_ENV = "TURSO_AUTH_TOKEN"


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    token_env: str = DEFAULT_TOKEN_ENV
    timeout: float = 15.0
    retries: int = 3
    backoff: float = 0.5
    # branch databases (optional): a sqld admin API, or a Turso organisation
    admin_url: str | None = None
    admin_key_env: str | None = None
    turso_org: str | None = None
    platform_token_env: str = "TURSO_API_TOKEN"
    turso_group: str = "default"
    turso_api_url: str = "https://api.turso.tech"
    # the URL the remote was configured with, when this one points at a branch database
    home_url: str | None = None
    # monotonic time at which the whole command's network work must end (see with_deadline)
    deadline_at: float | None = None
    # branch database names start with this (default: the main database's name)
    db_prefix: str | None = None
    # "primary" when the backend above was adopted from the team settings on the primary
    team_source: str | None = None

    @property
    def http_url(self) -> str:
        return http_url(self.url)

    @property
    def has_branch_dbs(self) -> bool:
        return bool(self.admin_url or self.turso_org)

    def backend(self):
        """The branch-database backend of this remote, or None."""
        from .db_backends import SqldBackend, TursoBackend

        if self.admin_url:
            key = os.environ.get(self.admin_key_env) if self.admin_key_env else None
            return SqldBackend(self.admin_url, self.url, key, timeout=self.timeout)
        if self.turso_org:
            return TursoBackend(self.turso_org, os.environ.get(self.platform_token_env),
                                self.url, self.turso_group, self.turso_api_url,
                                timeout=self.timeout)
        return None

    def for_database(self, url: str) -> "Remote":
        """The same remote, pointed at another database (a branch database)."""
        import dataclasses

        return dataclasses.replace(self, url=url, home_url=self.home_url or self.url)

    def with_deadline(self) -> "Remote":
        """This remote with ONE deadline (now + timeout) for every network call made through
        it and through its branch databases: a command takes at most `timeout` in all."""
        import dataclasses
        import time

        if self.deadline_at is not None:
            return self
        return dataclasses.replace(self, deadline_at=time.monotonic() + self.timeout)

    def deadline(self) -> float:
        """The monotonic deadline for the network call starting now."""
        import time

        own = time.monotonic() + self.timeout
        return own if self.deadline_at is None else min(own, self.deadline_at)

    @property
    def on_home_server(self) -> bool:
        """True when this URL is the configured one or a database beside it on the same
        server (same scheme and port; host equal or differing in its first label only,
        as sqld namespaces and Turso databases of one organisation do)."""
        return self.home_url is None or same_server(self.home_url, self.url)

    def token(self) -> str | None:
        """The token for THIS URL. The configured token (environment variable) is sent only
        to the server it was configured for; a database on another host gets only the
        credentials the user stored for that host (`pvc remote login URL`)."""
        if not self.on_home_server:
            return credentials_token(self.url)
        value = os.environ.get(self.token_env)
        if value:
            return value.strip()
        return credentials_token(self.url) or (
            credentials_token(self.home_url) if self.home_url else None)

    def to_json(self) -> dict:
        return {"name": self.name, "url": self.url, "token_env": self.token_env,
                "has_token": self.token() is not None,
                "branch_databases": ("sqld" if self.admin_url else
                                     "turso" if self.turso_org else None),
                "branch_databases_from": (self.team_source or "config") if self.has_branch_dbs
                else None}


def http_url(url: str) -> str:
    """The HTTP(S) base URL for a remote URL (`libsql://` means https)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "libsql":
        query = urllib.parse.parse_qs(parts.query)
        scheme = "http" if query.get("tls") == ["0"] else "https"
    if scheme not in ("http", "https"):
        raise ConfigError(f"remote URL '{url}' must start with libsql://, https:// or http://",
                          hint="for example: libsql://mydb-myorg.turso.io or http://localhost:8080")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _server_key(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(http_url(url))
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    labels = host.split(".")
    is_ip = bool(re.fullmatch(r"[\d.]+", host)) or ":" in host
    parent = host if is_ip or len(labels) < 2 else ".".join(labels[1:])
    if not is_ip and len(labels) == 1:
        parent = host  # `localhost`: its databases are NS.localhost
    return parts.scheme, parent, port


def same_server(home: str, url: str) -> bool:
    """Whether URL is HOME or a database beside it on the same server (see
    Remote.on_home_server). Anything unparsable is another server."""
    try:
        scheme, parent, port = _server_key(home)
        u = urllib.parse.urlsplit(http_url(url))
        host = (u.hostname or "").lower()
        uport = u.port or (443 if u.scheme == "https" else 80)
    except (ConfigError, ValueError):
        return False
    if u.scheme != scheme or uport != port or not host:
        return False
    if host == (urllib.parse.urlsplit(http_url(home)).hostname or "").lower():
        return True
    labels = host.split(".")
    if re.fullmatch(r"[\d.]+", host) or ":" in host or len(labels) < 2:
        return False
    return ".".join(labels[1:]) == parent


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    http_url(url)
    if not parts.hostname:
        raise ConfigError(f"remote URL '{url}' has no host",
                          hint="for example: http://localhost:8080")
    if parts.username or parts.password or "authToken" in parts.query:
        raise ConfigError(f"remote URL for host {parts.hostname} contains a credential; "
                          "pvc never stores tokens in the repository",
                          hint=f"put the token in ${DEFAULT_TOKEN_ENV} or `pvc remote login`")
    return url


def _section(name: str) -> str:
    return f'remote "{name}"'


def remote_names(config: Config) -> list[str]:
    """The names of the remote sections, in file order (a section without a url too)."""
    return [m.group(1) for section in config.parser.sections()
            if (m := re.fullmatch(r'remote "(.+)"', section))]


def list_remotes(config: Config) -> list[Remote]:
    return [get_remote(config, name) for name in remote_names(config)]


def require_remote(config: Config, name: str) -> None:
    """A RemoteError when the config has no section for remote NAME (a section without a
    url counts: it can still be removed or completed)."""
    if not has_remote(config, name):
        known = remote_names(config) if name else []
        raise RemoteError(
            f"no remote named '{name}'",
            hint=("known remotes: " + ", ".join(known)) if known
            else "add one with `pvc remote add origin URL`",
        )


def get_remote(config: Config, name: str) -> Remote:
    section = _section(name)
    require_remote(config, name)
    url = config.parser.get(section, "url", fallback=None)
    if not url:
        raise ConfigError(f"remote '{name}' has no url in {config.path}",
                          error_code=ErrorCode.REMOTE_NO_URL, remote=name,
                          hint=f"give it one with `pvc remote add {name} URL`, or remove it "
                               f"with `pvc remote remove {name}`")
    get = config.parser.get
    from ..config import check_setting

    for key in ("timeout", "retries", "backoff"):
        if config.parser.has_option(section, key):
            check_setting("remote", key, config.parser.get(section, key), config.path,
                          shown=f"remote.{name}.{key}")
    admin_url = get(section, "admin_url", fallback=None)
    turso_org = get(section, "turso_org", fallback=None)
    turso_group = get(section, "turso_group", fallback="default")
    db_prefix = get(section, "db_prefix", fallback=None)
    team_source = None
    if not (admin_url or turso_org):  # the team's backend, as recorded on the primary
        from .team import adopted

        team = adopted(config, name)
        if team.get("backend") == "sqld" and team.get("admin_url"):
            admin_url, team_source = team["admin_url"], "primary"
        elif team.get("backend") == "turso" and team.get("turso_org"):
            turso_org, team_source = team["turso_org"], "primary"
            turso_group = team.get("turso_group", "default")
        if team_source:
            db_prefix = db_prefix or team.get("db_prefix")
    try:
        return Remote(
            name=name, url=url,
            token_env=get(section, "token_env", fallback=DEFAULT_TOKEN_ENV),
            timeout=config.parser.getfloat(section, "timeout", fallback=15.0),
            retries=config.parser.getint(section, "retries", fallback=3),
            backoff=config.parser.getfloat(section, "backoff", fallback=0.5),
            admin_url=admin_url,
            admin_key_env=get(section, "admin_key_env", fallback=None),
            turso_org=turso_org,
            platform_token_env=get(section, "platform_token_env", fallback="TURSO_API_TOKEN"),
            turso_group=turso_group,
            turso_api_url=get(section, "turso_api_url", fallback="https://api.turso.tech"),
            db_prefix=db_prefix, team_source=team_source,
        )
    except ValueError as exc:
        raise ConfigError(f"remote '{name}' in {config.path} has a bad setting: {exc}",
                          hint="fix it with `pvc config`") from None


def has_remote(config: Config, name: str) -> bool:
    """Does the config name a remote NAME (with a url or not)?"""
    return config.parser.has_section(_section(name))


def has_url(config: Config, name: str) -> bool:
    """Does the config define remote NAME, url included?"""
    return bool(config.parser.get(_section(name), "url", fallback=None))


def check_remote_name(name: str) -> str:
    """NAME, or a ConfigError when it is not a valid remote name."""
    if not REMOTE_NAME.match(name):
        raise ConfigError(f"'{name}' is not a valid remote name",
                          hint="use letters, digits, '.', '_' and '-'")
    return name


def add_remote(config: Config, name: str, url: str, token_env: str | None = None,
               **branch_opts: str | None) -> Remote:
    check_remote_name(name)
    if has_url(config, name):
        raise RemoteError(f"remote '{name}' already exists",
                          hint=f"remove it first with `pvc remote remove {name}`")
    check_url(url)
    if token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
        raise ConfigError(f"'{token_env}' is not an environment variable name",
                          hint="for example: --token-env TURSO_AUTH_TOKEN")
    for key in ("admin_key_env", "platform_token_env"):
        value = branch_opts.get(key)
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ConfigError(f"'{value}' is not an environment variable name",
                              hint=f"for example: --{key.replace('_', '-')} MY_VAR")
    admin_url = branch_opts.get("admin_url")
    if admin_url:
        check_url(admin_url)
    if branch_opts.get("admin_url") and branch_opts.get("turso_org"):
        raise ConfigError("a remote has either a sqld admin URL or a Turso organisation, not both",
                          hint="drop --admin-url or --turso-org")
    kept = _valid_settings(config, name)  # a section without a url is adopted
    if admin_url or branch_opts.get("turso_org"):  # the backend given replaces the kept one
        kept.pop("admin_url", None)
        kept.pop("turso_org", None)
    config.parser.remove_section(_section(name))
    config.parser.add_section(_section(name))
    config.parser.set(_section(name), "url", url)
    for key, value in kept.items():
        config.parser.set(_section(name), key, value)
    if token_env:
        config.parser.set(_section(name), "token_env", token_env)
    for key, value in branch_opts.items():
        if value:
            config.parser.set(_section(name), key, value)
    config.save()
    return get_remote(config, name)


def _valid_settings(config: Config, name: str) -> dict[str, str]:
    """The settings of remote NAME's section that pvc knows and takes (url aside)."""
    sec = _section(name)
    if not config.parser.has_section(sec):
        return {}
    out = {}
    for key, value in config.parser.items(sec):
        if key == "url" or ("remote", key) not in SETTINGS:
            continue
        try:
            check_value("remote", key, value, f"remote.{name}.{key}")
        except ConfigError:
            continue
        out[key] = value
    return out


def remove_remote(config: Config, name: str) -> None:
    require_remote(config, name)
    config.parser.remove_section(_section(name))
    config.parser.remove_section(f'team "{name}"')
    config.save()


def default_remote(config: Config) -> Remote:
    remotes = list_remotes(config)
    if not remotes:
        raise RemoteError("this repository has no remote",
                          hint="add one with `pvc remote add origin URL`")
    for r in remotes:
        if r.name == "origin":
            return r
    return remotes[0]


# -- credentials file -----------------------------------------------------------------------
def credentials_path() -> Path:
    return user_config_dir() / "credentials"


def _read_credentials() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = credentials_path()
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the credentials file {path} can be read by other users; pvc will not use it",
                hint=f"run `chmod 600 {path}`",
            )
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            raise ConfigError(f"the credentials file {path} is malformed",
                              hint="fix it or remove it and run `pvc remote login` again") from None
    return parser


def _cred_key(url: str) -> str:
    parts = urllib.parse.urlsplit(http_url(url))
    return f"{parts.netloc}{parts.path}"


def credentials_token(url: str) -> str | None:
    parser = _read_credentials()
    key = _cred_key(url)
    if parser.has_section(key):
        return parser.get(key, "token", fallback=None)
    return None


def store_token(url: str, token: str) -> Path:
    """Save TOKEN for URL in the owner-only credentials file."""
    parser = _read_credentials()
    key = _cred_key(url)
    if not parser.has_section(key):
        parser.add_section(key)
    parser.set(key, "token", token.strip())
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    parser.write(text)
    write_atomic(path, text.getvalue().encode("utf-8"), mode=0o600)  # owner only
    return path
