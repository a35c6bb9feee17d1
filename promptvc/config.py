"""Repository configuration (``.pvc/config``, INI) and the user's identity.

``SETTINGS`` is the one specification of every setting pvc reads (type, range or choices,
default). ``Config`` reads and writes the file; ``get_key``, ``set_key`` and ``unset_key``
take the dotted names `pvc config` uses (``remote.origin.timeout``), check keys and values
against ``SETTINGS`` (keys of sections pvc does not own pass, as in git), and save atomically.
Tokens are never stored here: remotes name the environment variable or the
credentials file that holds theirs.

Layer: near the bottom: the standard library, promptvc.errors and promptvc.fileio.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ErrorCode

@dataclass(frozen=True)
class Setting:
    """One setting pvc reads: its KIND (how a value is checked), range or choices, default,
    and a short description (docs/cli.md lists them)."""

    kind: str  # int, float, bool, choice, days, env, url, http_url, text, person
    about: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: str | None = None


_GLOBS = ("*.md *.txt *.prompt *.prompty *.j2 *.jinja *.jinja2 *.yaml *.yml *.json "
          "*.tmpl *.mustache *.hbs")
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
            "false": False, "no": False, "off": False, "0": False, "": False}

#: (section, key) -> Setting: every setting pvc reads, the one specification `pvc config`
#: checks against. SECTION is the plain name: `remote` stands for every `[remote "NAME"]`.
SETTINGS: dict[tuple[str, str], Setting] = {
    ("user", "name"): Setting("person", "the author's name for commits"),
    ("user", "email"): Setting("person", "the author's email for commits"),
    ("core", "max_chain_length"): Setting("int", "longest delta chain before a snapshot",
                                          1, 100_000, default="50"),
    ("core", "max_chain_ratio"): Setting("float", "delta chain size / snapshot size before a "
                                         "snapshot", 0.1, 1000.0, default="2.0"),
    ("core", "prompt_globs"): Setting("text", "which files are prompts (space-separated globs)",
                                      default=_GLOBS),
    ("check", "on_commit"): Setting("bool", "run `pvc check` before each commit"),
    ("search", "embedder"): Setting("choice", "semantic search embedder",
                                    choices=("none", "off", "wordllama", "openai")),
    ("search", "url"): Setting("http_url", "OpenAI-compatible embeddings endpoint"),
    ("search", "model"): Setting("text", "the endpoint's embedding model"),
    ("search", "token_env"): Setting("env", "environment variable with the endpoint's token"),
    ("search", "timeout"): Setting("float", "seconds to wait for the endpoint", 0.1, 3600.0),
    ("search", "text_weight"): Setting("float", "weight of full-text ranking", 0.0, 1000.0),
    ("search", "vector_weight"): Setting("float", "weight of semantic ranking", 0.0, 1000.0),
    ("gc", "reflog_expire"): Setting("days", "days `pvc gc` keeps reflog entries, or never"),
    ("remote", "url"): Setting("url", "the primary (libsql://, https://, http://)"),
    ("remote", "token_env"): Setting("env", "environment variable with the token"),
    ("remote", "timeout"): Setting("float", "seconds a command's network work may take",
                                   0.1, 3600.0),
    ("remote", "retries"): Setting("int", "attempts per request", 1, 100),
    ("remote", "backoff"): Setting("float", "seconds between attempts", 0.0, 60.0),
    ("remote", "admin_url"): Setting("url", "sqld admin API (branch databases)"),
    ("remote", "admin_key_env"): Setting("env", "environment variable with the admin key"),
    ("remote", "turso_org"): Setting("text", "Turso organisation (branch databases)"),
    ("remote", "platform_token_env"): Setting("env", "environment variable with the Turso "
                                          "platform API token"),
    ("remote", "turso_group"): Setting("text", "Turso group for branch databases"),
    ("remote", "turso_api_url"): Setting("url", "Turso Platform API base URL"),
    ("remote", "db_prefix"): Setting("text", "branch database names start with this"),
}

DEFAULTS: dict[str, dict[str, str]] = {}
for (_sec, _key), _setting in SETTINGS.items():
    if _setting.default is not None:
        DEFAULTS.setdefault(_sec, {})[_key] = _setting.default

#: (section, key) -> (type, lowest, highest): the numeric settings, checked when read too
LIMITS: dict[tuple[str, str], tuple[type, float, float]] = {
    key: (int if s.kind == "int" else float, s.low, s.high)
    for key, s in SETTINGS.items() if s.low is not None and s.high is not None
}
REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_setting(section: str, key: str, raw: str, path: Path | None = None,
                  shown: str | None = None):
    """RAW as the value of SECTION.KEY, or ConfigError when it is not a number in range.
    SECTION is the plain name (`remote`, not `remote "origin"`)."""
    rule = LIMITS.get((section, key))
    if rule is None:
        return raw
    kind, low, high = rule
    name = shown or f"{section}.{key}"
    where = f" in {path}" if path else ""
    try:
        value = kind(str(raw).strip())
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"config value {name} = {raw!r}{where} is not {noun}",
                          hint=f"set it with `pvc config {name} N`") from None
    if not (low <= value <= high) or value != value:  # NaN too
        raise ConfigError(f"config value {name} = {raw!r}{where} is out of range "
                          f"({low:g} to {high:g})",
                          hint=f"set it with `pvc config {name} N`")
    return value


def _url_problem(raw: str, schemes: tuple[str, ...]) -> str | None:
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(raw)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if parts.scheme.lower() not in schemes or not host:
        shown = [f"{s}://" for s in schemes]
        return f"is not a URL with a host ({', '.join(shown[:-1])} or {shown[-1]})"
    return None


def check_value(section: str, key: str, raw: str, shown: str) -> None:
    """A ConfigError (code CONFIG, nothing saved) when RAW is not a value SECTION.KEY takes;
    the message names the key, the value and what is allowed. Unknown keys pass."""
    spec = SETTINGS.get((section, key))
    if spec is None:
        return
    if spec.kind in ("int", "float"):
        check_setting(section, key, raw, shown=shown)
        return
    text = raw.strip().lower()
    allowed, hint = None, f"set it with `pvc config {shown} VALUE`"
    if spec.kind == "bool" and text not in BOOLEANS:
        allowed, hint = "is not true or false", f"set it with `pvc config {shown} true` (or false)"
    elif spec.kind == "choice" and text not in ("", *spec.choices):
        allowed = "is not one of " + ", ".join(spec.choices)
    elif spec.kind == "days":
        days = text[:-5] if text.endswith(".days") else text
        if text != "never" and not (days.isdigit() and int(days) >= 1):
            allowed = "is not a number of days (1 or more) or 'never'"
            hint = f"for example `pvc config {shown} 90`"
    elif spec.kind == "env" and not _ENV.match(raw):  # never echoed: it may be a pasted token
        raise ConfigError(f"config value {shown} is not an environment variable name (the "
                          "value is not shown: it may be a token)",
                          hint=f"name the variable that holds the token, for example `pvc config "
                               f"{shown} MY_TOKEN`, and export the token in it", key=shown)
    elif spec.kind in ("url", "http_url"):
        if "@" in raw.split("//", 1)[-1].split("/", 1)[0] or "authtoken" in raw.lower():
            raise ConfigError(f"config value {shown} contains a credential; pvc never stores "
                              "tokens in the repository",
                              hint="put the token in an environment variable or "
                                   "`pvc remote login`", key=shown)
        schemes = ("libsql", "https", "http") if spec.kind == "url" else ("https", "http")
        allowed = _url_problem(raw, schemes)
        hint = f"for example `pvc config {shown} http://localhost:8080`"
    elif spec.kind == "person" and (not raw.strip() or re.search(r"[<>\n]", raw)):
        allowed = "is not a name or address without '<', '>' or line breaks"
    if allowed:
        raise ConfigError(f"config value {shown} = {raw!r} {allowed}", hint=hint, key=shown)


def _sections() -> list[str]:
    return sorted({section for section, _ in SETTINGS})


def known_key(section: str, key: str, shown: str) -> None:
    """A ConfigError with code CONFIG_KEY when SECTION is one pvc owns and KEY is not one of
    its settings (a typo: `core.max_chain_lenght`), with the closest known key if any."""
    import difflib

    names = [k for s, k in SETTINGS if s == section]
    if not names or key in names:
        return
    close = difflib.get_close_matches(key, names, n=1)
    prefix = shown[: len(shown) - len(key)]
    tip = (f"did you mean {prefix}{close[0]}?" if close
           else f"{section} settings: " + ", ".join(sorted(names)))
    raise ConfigError(f"unknown setting '{shown}'; {tip}",
                      error_code=ErrorCode.CONFIG_KEY, key=shown)


def split_key(key: str) -> tuple[str, str]:
    """(section, name) of a dotted setting KEY as `pvc config` spells it: `core.x` ->
    (`core`, `x`), `remote.origin.timeout` -> (`remote "origin"`, `timeout`). A key without
    a section is a ConfigError with code CONFIG_KEY, suggesting a close known key."""
    if "." not in key:
        import difflib

        close = difflib.get_close_matches(key, sorted({k for _, k in SETTINGS}), n=1)
        full = [f"{s}.NAME.{k}" if s == "remote" else f"{s}.{k}"
                for s, k in SETTINGS if close and k == close[0]]
        tip = (f"did you mean {' or '.join(full)}?" if full
               else "the sections are " + ", ".join(_sections()))
        raise ConfigError(f"key '{key}' needs a section; {tip}",
                          error_code=ErrorCode.CONFIG_KEY, key=key)
    section, _, name = key.rpartition(".")
    if section.startswith("remote.") and section.count(".") == 1:
        section = f'remote "{section.split(".", 1)[1]}"'  # remote.origin.timeout
    return section, name


_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>\n]*>\Z")


class Config:
    def __init__(self, path: Path):
        self.path = path
        self.parser = configparser.ConfigParser(interpolation=None)
        if path.exists():
            try:
                self.parser.read(path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError) as exc:
                first = str(exc).splitlines()[0]
                raise ConfigError(
                    f"the repository config {path} is malformed: {first}",
                    hint="fix or remove the offending line (it is an INI file)",
                ) from None

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        if self.parser.has_option(section, key):
            return self.parser.get(section, key)
        return DEFAULTS.get(section, {}).get(key, default)

    def get_int(self, section: str, key: str, default: int) -> int:
        raw = self.get(section, key, str(default))
        if (section, key) in LIMITS:
            return int(check_setting(section, key, str(raw), self.path))
        try:
            value = int(str(raw))
        except ValueError:
            raise ConfigError(
                f"config value {section}.{key} = {raw!r} in {self.path} is not a whole number",
                hint=f"set it with `pvc config {section}.{key} N`",
            ) from None
        return value

    def get_float(self, section: str, key: str, default: float) -> float:
        raw = self.get(section, key, str(default))
        if (section, key) in LIMITS:
            return float(check_setting(section, key, str(raw), self.path))
        try:
            return float(str(raw))
        except ValueError:
            raise ConfigError(
                f"config value {section}.{key} = {raw!r} in {self.path} is not a number",
                hint=f"set it with `pvc config {section}.{key} N`",
            ) from None

    def set(self, section: str, key: str, value: str) -> None:
        if not self.parser.has_section(section):
            self.parser.add_section(section)
        self.parser.set(section, key, value)

    def unset(self, section: str, key: str) -> bool:
        return self.parser.has_section(section) and self.parser.remove_option(section, key)

    def get_key(self, key: str) -> str | None:
        """The value of the dotted KEY (`remote.origin.timeout`), its default, or None."""
        section, name = split_key(key)
        return self.get(section, name)

    def set_key(self, key: str, value: str) -> None:
        """Set the dotted KEY to VALUE and save. A ConfigError, nothing changed, when KEY has
        no section or is not a setting of a section pvc owns (code CONFIG_KEY), names a remote
        the config does not define (NO_REMOTE; only `remote.NAME.url` makes one), or VALUE is
        not one the setting takes (CONFIG: `timeout = -5`, `on_commit = maybe`)."""
        section, name = split_key(key)
        plain = "remote" if section.startswith("remote ") else section
        known_key(plain, name, key)
        remote = section[len('remote "'):-1] if plain == "remote" else ""
        if plain == "remote" and name != "url":
            if not self.parser.get(section, "url", fallback=None):
                raise ConfigError(f"no remote named '{remote}' to set {key} for",
                                  error_code=ErrorCode.NO_REMOTE, remote=remote,
                                  hint=f"add it first with `pvc remote add {remote} URL`")
        elif plain == "remote" and not REMOTE_NAME.match(remote):
            raise ConfigError(f"'{remote}' is not a valid remote name",
                              hint="use letters, digits, '.', '_' and '-'")
        check_value(plain, name, value, key)
        self.set(section, name, value)
        self.save()

    def unset_key(self, key: str) -> bool:
        """Remove the dotted KEY and save (a section left empty goes too); False (nothing
        changed) when it was not set. A remote's url is not removed (a ConfigError): that is
        `pvc remote remove NAME`."""
        section, name = split_key(key)
        if section.startswith("remote ") and name == "url" and self.parser.has_option(
                section, name):
            remote = section[len('remote "'):-1]
            raise ConfigError(f"{key} is what makes '{remote}' a remote; it is not unset alone",
                              hint=f"remove the remote with `pvc remote remove {remote}`",
                              remote=remote)
        if not self.unset(section, name):
            return False
        if not self.parser.options(section):
            self.parser.remove_section(section)
        self.save()
        return True

    def save(self) -> None:
        """Write the file atomically (``fileio.write_atomic``): a kill leaves either the old
        file or the new one."""
        import io

        from .fileio import write_atomic

        text = io.StringIO()
        self.parser.write(text)
        write_atomic(self.path, text.getvalue().encode("utf-8"))

    def items(self) -> list[tuple[str, str]]:
        out = []
        for section in self.parser.sections():
            m = re.fullmatch(r'(\w+) "(.+)"', section)
            name = f"{m.group(1)}.{m.group(2)}" if m else section
            for key, value in self.parser.items(section):
                out.append((f"{name}.{key}", value))
        return out


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pvc"


def default_author(config: Config | None = None) -> str:
    """`Name <email>` from PVC_AUTHOR, the repo config, the user config, git's env, or the OS."""
    env = os.environ.get("PVC_AUTHOR")
    if env:
        return check_author(env)
    name = email = None
    if config is not None:
        name, email = config.get("user", "name"), config.get("user", "email")
    if not (name and email):
        user_cfg = user_config_dir() / "config"
        if user_cfg.exists():
            uc = Config(user_cfg)
            name = name or uc.get("user", "name")
            email = email or uc.get("user", "email")
    import getpass
    import socket

    name = name or os.environ.get("GIT_AUTHOR_NAME")
    email = email or os.environ.get("GIT_AUTHOR_EMAIL")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in some containers
            name = "pvc"
    if not email:
        email = f"{name}@{socket.gethostname() or 'localhost'}"
    return f"{name} <{email}>"


def author_is_configured(config: Config | None = None) -> bool:
    """Did the user say who they are (PVC_AUTHOR, user.name and user.email in a config,
    git's author variables), as opposed to pvc guessing from the login and host names?"""
    if os.environ.get("PVC_AUTHOR"):
        return True
    name = email = None
    if config is not None:
        name, email = config.get("user", "name"), config.get("user", "email")
    if not (name and email):
        user_cfg = user_config_dir() / "config"
        if user_cfg.exists():
            uc = Config(user_cfg)
            name = name or uc.get("user", "name")
            email = email or uc.get("user", "email")
    name = name or os.environ.get("GIT_AUTHOR_NAME")
    email = email or os.environ.get("GIT_AUTHOR_EMAIL")
    return bool(name and email)


def check_author(author: str) -> str:
    author = author.strip()
    if not _AUTHOR.match(author):
        raise ConfigError(
            f"author {author!r} is not in the form 'Name <email>'",
            hint='pass --author "Jane Doe <jane@example.com>"',
        )
    return author
