"""Domain exceptions. Every message names the object and says what to do next.

The CLI turns a :class:`PvcError` into ``error: <message>`` and exit code 1; nothing
else in the core prints or exits.
"""

from __future__ import annotations


class PvcError(Exception):
    """Base class of every error pvc reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class NotARepository(PvcError):
    pass


class RepositoryExists(PvcError):
    pass


class SchemaError(PvcError):
    """The database was written by a newer pvc, or is not a pvc database."""


class UnknownRevision(PvcError):
    pass


class AmbiguousRevision(PvcError):
    pass


class PathError(PvcError):
    """A path is outside the repository, missing, not tracked, binary, ..."""


class NothingToCommit(PvcError):
    pass


class RefError(PvcError):
    """Bad ref name, ref exists / missing, or a compare-and-swap lost a race."""


class RefConflict(RefError):
    """A compare-and-swap on a ref failed: someone moved it first. Retry."""


class DirtyWorkingTree(PvcError):
    pass


class IntegrityError(PvcError):
    """Stored data does not match its hash: the repository is damaged."""


class MergeError(PvcError):
    pass


class ConfigError(PvcError):
    pass


class RemoteError(PvcError):
    pass


class NonFastForward(RemoteError):
    """A push was refused: the remote branch has commits the local one lacks."""

    code = "non-fast-forward"


class LockedError(PvcError):
    pass
