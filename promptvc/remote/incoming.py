"""What a primary sends, checked before pvc uses it: a primary is untrusted input.

Job: every row a fetch reads from a replica file is checked here before anything is written
or looked up with it: ids are 64 hex digits, a commit's id is its hash, paths and ref and
database names pass pvc's rules, a version is not larger than ``MAX_ROW_BYTES``, a tree
parses (``TreeCheck``, inside the import transaction). A refusal is an IntegrityError that
says nothing was fetched.

May import: the standard library, ``refs``, ``errors``, ``objects``, ``paths``, store rows,
and ``remote.db_backends`` / ``remote.remotes`` (name and URL rules). Nothing that talks to a
server.
"""

from __future__ import annotations

import re

from .. import refs as R
from ..errors import IntegrityError
from ..objects import commit_id, parse_manifest
from ..paths import check_path
from ..store import VersionRow
from ..store.replica_file import ReplicaReader
from .db_backends import check_db_name
from .remotes import Remote

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: the largest row a primary may send (a version's data); a prompt is far smaller
MAX_ROW_BYTES = 32 * 2**20
_STATES = ("active", "frozen", "deleted")


def bad_input(remote: Remote, what: str) -> IntegrityError:
    """The error for WHAT the primary of REMOTE sent that pvc refuses (nothing is fetched)."""
    return IntegrityError(f"the primary '{remote.name}' sent {what}; nothing was fetched",
                          hint="the remote database is damaged or hostile; ask its owner "
                               "(your local repository was not changed)")


def _check_id(remote: Remote, value, what: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise bad_input(remote, f"a bad {what} {str(value)[:80]!r}")


def check_mapping(remote: Remote, mapping: dict[str, dict]) -> None:
    """Every branch -> database row from a primary, checked before anything uses it."""
    from .remotes import check_url

    for branch, row in mapping.items():
        try:
            R.check_ref_name(branch)
        except Exception:  # noqa: BLE001 - any refusal of the name
            raise bad_input(remote, f"a branch database row for a bad branch name {branch[:80]!r}") from None
        if row.get("state") not in _STATES:
            raise bad_input(remote, f"a branch database row for '{branch}' with a bad state")
        try:
            check_db_name(str(row.get("db_name")), remote.name)
            check_url(str(row.get("url")))
        except Exception as exc:  # noqa: BLE001
            raise bad_input(remote, f"a bad branch database row for '{branch}' "
                               f"({getattr(exc, 'message', exc)})") from None


def check_refs(remote: Remote, refs: dict[str, str]) -> None:
    for name, target in refs.items():
        short = name.split("/", 2)[-1] if name.startswith("refs/") else name
        try:
            R.check_ref_name(short)
        except Exception:  # noqa: BLE001
            raise bad_input(remote, f"a ref with a bad name {name[:80]!r}") from None
        _check_id(remote, target, f"target for {name[:80]!r}")


def _check_incoming(remote: Remote, row: tuple, chs: list[tuple]) -> None:
    """A commit row and its change rows from a primary: ids and paths, before use."""
    cid = row[0]
    _check_id(remote, row[1], f"tree id in commit {str(cid)[:12]}")
    _check_id(remote, row[2], f"parent in commit {str(cid)[:12]}", optional=True)
    _check_id(remote, row[3], f"parent in commit {str(cid)[:12]}", optional=True)
    for c in chs:
        for i, what in ((4, "version id"), (5, "old version id")):
            _check_id(remote, c[i], f"{what} in commit {str(cid)[:12]}", optional=True)
        for p in (c[1], c[3]):
            if p is not None:
                check_path(p, source=f"the primary '{remote.name}'",
                           hint="the remote holds a name pvc refuses; nothing was fetched "
                                "(your local repository was not changed)")


def _check_version(remote: Remote, v: tuple) -> None:
    _check_id(remote, v[0], "version id")
    _check_id(remote, v[2], f"diff base of version {str(v[0])[:12]}", optional=True)
    _check_id(remote, v[3], f"parent of version {str(v[0])[:12]}", optional=True)
    data = v[7]
    if not isinstance(data, (bytes, bytearray, memoryview, str)) or len(data) > MAX_ROW_BYTES \
            or not isinstance(v[8], int) or v[8] > MAX_ROW_BYTES or v[8] < 0:
        raise bad_input(remote, f"version {str(v[0])[:12]} larger than {MAX_ROW_BYTES // 2**20} MiB "
                           "or malformed")


class TreeCheck:
    """Inside the import transaction: every new tree parses and its paths pass pvc's name
    rule. Trees share nearly all their entries, so each path and id is checked once."""

    def __init__(self, remote: Remote, tree_of: dict[str, str]):
        self.remote = remote
        self.source = f"the primary '{remote.name}'"
        self.tree_of = tree_of  # new commit -> its tree
        self.commit_of = {tree: cid for cid, tree in tree_of.items()}  # tree id -> a commit
        self.paths: set[str] = set()
        self.ids: set[str] = set()
        self.seen: set[str] = set()

    def content(self, tree_id: str, data: bytes) -> None:
        cid = self.commit_of.get(tree_id, tree_id)
        try:
            tree = parse_manifest(data)
        except IntegrityError:
            raise bad_input(self.remote, f"a malformed tree in commit {cid[:12]}") from None
        for path, vid in tree.items():
            if path not in self.paths:
                check_path(path, source=self.source,
                           hint="the remote holds a name pvc refuses; nothing was fetched "
                                "(your local repository was not changed)")
                self.paths.add(path)
            if vid not in self.ids:
                _check_id(self.remote, vid, f"version id in the tree of commit {cid[:12]}")
                self.ids.add(vid)
        self.seen.add(tree_id)

    def rest(self, repo) -> None:
        """The new commits whose tree did not arrive with them (one already here)."""
        for cid, tree in self.tree_of.items():
            if tree not in self.seen:
                try:
                    data = repo.versions.get(tree)
                except IntegrityError:
                    raise bad_input(self.remote, f"a malformed tree in commit {cid[:12]}") from None
                self.content(tree, data)


def incoming_commit(remote: Remote, reader: ReplicaReader, cid: str) -> tuple[tuple, list[tuple]]:
    """Commit CID's row and change rows from READER, checked (its id is its hash)."""
    row = reader.commit(cid)
    if row is None:
        raise IntegrityError(f"the remote names commit {cid[:12]} but does not have it",
                             hint="the remote database is damaged; ask its owner")
    if commit_id(row[1], tuple(p for p in (row[2], row[3]) if p), row[4], row[5],
                 row[6]) != cid:
        raise IntegrityError(f"commit {cid[:12]} from {remote.name} does not match its id",
                             hint="the remote database is damaged; nothing was fetched")
    chs = reader.changes(cid)
    _check_incoming(remote, row, chs)
    return row, chs


def incoming_version(remote: Remote, reader: ReplicaReader, vid: str) -> tuple:
    """Version VID's row from READER, checked (its content is checked after insertion)."""
    v = reader.version(vid)
    if v is None:
        raise IntegrityError(f"version {vid[:12]} is missing on {remote.name}",
                             hint="the remote database is damaged")
    _check_version(remote, v)
    if v[0] != vid:
        raise bad_input(remote, f"version {vid[:12]} under another id")
    return v




def version_row(v: tuple) -> VersionRow:
    """A checked version row from a replica (``ReplicaReader.version``) as a VersionRow."""
    return VersionRow(v[0], v[1], v[2], v[3], v[4], v[5], v[6], bytes(v[7]), v[8], v[9], v[10],
                      v[11])
