"""Domain exceptions. Every message names the object and says what to do next.

The CLI turns a :class:`PvcError` into ``error: <message>`` and exit code 1; nothing
else in the core prints or exits.

Every error carries an :class:`ErrorCode` (``exc.error_code``) and structured fields
(``exc.fields``); code that decides what to do about an error (retry, report offline,
pull first) looks at the code, never at the message, which is for people. One hierarchy:
the remote clients' errors (``HranaError``, ``SqldError``, ``SyncFailed``) are PvcErrors
too.

Imports: the standard library only.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    """What went wrong, for code (and for scripts, as a stable string)."""

    ERROR = "error"  # no more specific code
    NOT_A_REPOSITORY = "not-a-repository"
    REPOSITORY_EXISTS = "repository-exists"
    SCHEMA = "schema"
    UNKNOWN_REVISION = "unknown-revision"
    AMBIGUOUS_REVISION = "ambiguous-revision"
    PATH = "path"
    NOTHING_TO_COMMIT = "nothing-to-commit"
    REF = "ref"
    REF_CONFLICT = "ref-conflict"
    DIRTY_WORKING_TREE = "dirty-working-tree"
    INTEGRITY = "integrity"
    MERGE = "merge"
    CONFIG = "config"
    CONFIG_KEY = "config-key"  # a setting's name pvc does not take: no section, or a typo
    NO_REMOTE = "no-remote"  # a setting for a remote the config does not define
    REMOTE_NO_URL = "remote-no-url"  # a remote section without a url (hand-edited, older pvc)
    LOCKED = "locked"
    DAMAGED = "damaged"  # the repository database is missing, empty or unreadable
    GIT = "git"
    EXPERIMENT = "experiment"
    SERVE = "serve"
    RENDER = "render"
    SEARCH = "search"
    CHECK = "check"  # `pvc check` found problems in the files a commit would record
    # remotes
    REMOTE = "remote"  # a remote failed in no more specific way
    UNREACHABLE = "unreachable"  # refused, unreachable, name not resolved, TLS
    TIMEOUT = "timeout"  # no answer in time; the request may or may not have been applied
    AUTH = "auth"  # credentials refused
    NOT_FOUND = "not-found"  # the database (namespace) does not exist
    STATEMENT = "statement"  # a SQL statement failed on the server
    PROTOCOL = "protocol"  # an answer pvc cannot read
    NON_FAST_FORWARD = "non-fast-forward"  # the remote branch has commits we lack
    PRIMARY_LOST = "primary-lost"  # the primary lacks commits this clone saw there (re-created)
    NO_REMOTE_BRANCH = "no-remote-branch"  # the remote has no such branch (never pushed, or deleted there)
    NO_BACKEND = "no-backend"  # the remote has no branch-database backend
    NO_BRANCH_DB = "no-branch-db"  # the branch has no database
    BACKEND = "backend"  # the branch-database backend (sqld admin, Turso API) refused
    BUSY = "busy"  # another process is syncing the same replica
    SYNC = "sync"  # a replica sync failed
    SQLD = "sqld"  # the sqld process could not be started or controlled
    SQLD_ADMIN = "sqld-admin"  # the sqld admin API answered with an error status

    def __str__(self) -> str:
        return self.value


#: Codes of failures that may go away by themselves: worth a retry, and "offline".
TRANSIENT = frozenset({ErrorCode.UNREACHABLE, ErrorCode.TIMEOUT})


class PvcError(Exception):
    """Base class of every error pvc reports to a user.

    ``error_code`` defaults to the class's; pass ``error_code=`` for a more specific one.
    Keyword ``fields`` (the objects the error is about: ``branch=``, ``remote=``, ...) are
    kept in ``exc.fields``."""

    exit_code = 1
    error_code: ErrorCode = ErrorCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None,
                 error_code: ErrorCode | None = None, **fields: Any):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if error_code is not None:
            self.error_code = error_code
        self.fields: dict[str, Any] = fields

    @property
    def transient(self) -> bool:
        """Might the same call succeed later (the remote is unreachable or slow)?"""
        return self.error_code in TRANSIENT

    def to_json(self) -> dict[str, Any]:
        return {"code": self.error_code.value, "message": self.message, "hint": self.hint,
                **{k: v for k, v in self.fields.items() if isinstance(v, (str, int, float,
                                                                          bool, type(None)))}}

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class NotARepository(PvcError):
    error_code = ErrorCode.NOT_A_REPOSITORY


class RepositoryExists(PvcError):
    error_code = ErrorCode.REPOSITORY_EXISTS


class SchemaError(PvcError):
    """The database was written by a newer pvc, or is not a pvc database."""
    error_code = ErrorCode.SCHEMA


class UnknownRevision(PvcError):
    error_code = ErrorCode.UNKNOWN_REVISION


class AmbiguousRevision(PvcError):
    error_code = ErrorCode.AMBIGUOUS_REVISION


class PathError(PvcError):
    """A path is outside the repository, missing, not tracked, binary, ..."""
    error_code = ErrorCode.PATH


class NothingToCommit(PvcError):
    error_code = ErrorCode.NOTHING_TO_COMMIT


class RefError(PvcError):
    """Bad ref name, ref exists / missing, or a compare-and-swap lost a race."""
    error_code = ErrorCode.REF


class RefConflict(RefError):
    """A compare-and-swap on a ref failed: someone moved it first. Retry."""
    error_code = ErrorCode.REF_CONFLICT


class DirtyWorkingTree(PvcError):
    error_code = ErrorCode.DIRTY_WORKING_TREE


class IntegrityError(PvcError):
    """Stored data does not match its hash: the repository is damaged."""
    error_code = ErrorCode.INTEGRITY


class MergeError(PvcError):
    error_code = ErrorCode.MERGE


class ConfigError(PvcError):
    error_code = ErrorCode.CONFIG


class RemoteError(PvcError):
    error_code = ErrorCode.REMOTE


class FormatError(RemoteError):
    """A primary's storage format is not the one this pvc writes: older (``code``
    ``primary-format-old``: run `pvc remote upgrade`) or newer (``primary-format-new``)."""

    def __init__(self, message: str, *, code: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.code = code


class NonFastForward(RemoteError):
    """A push was refused: the remote branch has commits the local one lacks."""

    code = "non-fast-forward"


class CheckFailed(PvcError):
    """A commit was refused because `pvc check` found problems in the files it would
    record (config check.on_commit); ``problems`` holds them (`prompts.check.Problem`)."""
    error_code = ErrorCode.CHECK

    def __init__(self, message: str, problems: list[Any], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = list(problems)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "problems": [p.to_json() for p in self.problems]}


class LockedError(PvcError):
    error_code = ErrorCode.LOCKED


class SearchError(PvcError):
    """The search index or an embedder cannot answer (bad pattern, embedder down, ...)."""
    error_code = ErrorCode.SEARCH


class DamagedRepository(PvcError):
    """The database under .pvc/ is missing, empty or unreadable; pvc never replaces it."""
    error_code = ErrorCode.DAMAGED
