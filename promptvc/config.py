"""Repository configuration (``.pvc/config``, INI) and the user's identity.

``Config`` reads and writes the file; ``get_key``, ``set_key`` and ``unset_key`` take the
dotted names `pvc config` uses (``remote.origin.timeout``), validate, and save atomically.
Tokens are never stored here: remotes name the environment variable or the
credentials file that holds theirs.

Layer: near the bottom: the standard library and promptvc.errors.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
from pathlib import Path

from .errors import ConfigError, ErrorCode

DEFAULTS = {
    "core": {
        "max_chain_length": "50",
        "max_chain_ratio": "2.0",
        "prompt_globs": "*.md *.txt *.prompt *.prompty *.j2 *.jinja *.jinja2 *.yaml *.yml *.json "
                        "*.tmpl *.mustache *.hbs",
    },
}

#: (section, key) -> (type, lowest, highest): settings a bad value would break
LIMITS: dict[tuple[str, str], tuple[type, float, float]] = {
    ("core", "max_chain_length"): (int, 1, 100_000),
    ("core", "max_chain_ratio"): (float, 0.1, 1000.0),
    ("remote", "timeout"): (float, 0.1, 3600.0),
    ("remote", "retries"): (int, 1, 100),
    ("remote", "backoff"): (float, 0.0, 60.0),
}


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


def split_key(key: str) -> tuple[str, str]:
    """(section, name) of a dotted setting KEY as `pvc config` spells it: `core.x` ->
    (`core`, `x`), `remote.origin.timeout` -> (`remote "origin"`, `timeout`). A key without
    a section is a ConfigError with code CONFIG_KEY."""
    if "." not in key:
        raise ConfigError(f"key '{key}' needs a section, e.g. core.{key}",
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
        """Set the dotted KEY to VALUE and save: a ConfigError (nothing changed) when KEY has
        no section or VALUE is out of the setting's range (`timeout = -5`)."""
        section, name = split_key(key)
        check_setting("remote" if section.startswith("remote ") else section, name, value,
                      shown=key)
        self.set(section, name, value)
        self.save()

    def unset_key(self, key: str) -> bool:
        """Remove the dotted KEY and save; False (nothing changed) when it was not set."""
        section, name = split_key(key)
        if not self.unset(section, name):
            return False
        self.save()
        return True

    def save(self) -> None:
        """Write the file atomically: a temporary file in the same folder, flushed to disk,
        then renamed over the old one, so a kill leaves either the old file or the new."""
        import tempfile

        folder = self.path.parent
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), mode)
                self.parser.write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename itself, on file systems that allow it
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

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
