"""Content addressing: version ids, tree manifests, commit ids; and the version store.

- A version's id is the SHA-256 of its full content.
- A tree is a manifest ``<version id> <path>\\n`` per file, sorted by path; its id is the
  SHA-256 of the manifest, i.e. a hash over the sorted (path, content SHA-256) pairs. A path
  with a line feed in it is length-prefixed (see ``manifest_bytes``).
  Manifests are stored as versions too (kind ``tree``), diffed against the parent tree.
- A commit's id is the SHA-256 of its canonical text (tree, parents, author, date,
  message), so history is a Merkle chain: a changed byte anywhere changes an id.

Layer: over the store (its row types and Store), promptvc.delta and promptvc.config (the
default chain limits); it reads versions through promptvc.reader's VersionChainReader, so
a read-only database file serves too.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from . import delta
from .config import DEFAULTS
from .errors import IntegrityError
from .reader import VersionChainReader
from .store import Store, VersionRow

EMPTY_TREE = hashlib.sha256(b"").hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- trees ------------------------------------------------------------------------------
def manifest_bytes(tree: dict[str, str]) -> bytes:
    """The canonical manifest: ``<version id> <path>\\n`` per file, sorted by path bytes.

    A path containing a line feed is written length-prefixed instead,
    ``<version id>:<byte length> <path>\\n``, so no file name can change how a manifest
    parses (every manifest without such a path is byte for byte what format 1 wrote, so its
    tree id is unchanged)."""
    out = []
    for path, vid in sorted(tree.items(), key=lambda kv: kv[0].encode()):
        raw = path.encode()
        if b"\n" in raw:
            out.append(b"%s:%d %s\n" % (vid.encode(), len(raw), raw))
        else:
            out.append(b"%s %s\n" % (vid.encode(), raw))
    return b"".join(out)


_HEX64 = re.compile(rb"[0-9a-f]{64}")


def parse_manifest(data: bytes) -> dict[str, str]:
    """Read a manifest made by manifest_bytes. Only a line feed ends an entry (never any other
    of str.splitlines' separators)."""
    tree: dict[str, str] = {}
    i, n = 0, len(data)
    while i < n:
        vid = data[i:i + 64]
        sep = data[i + 64:i + 65]
        if _HEX64.fullmatch(vid) is None:
            raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
        if sep == b" ":
            end = data.find(b"\n", i + 65)
            if end < 0:
                raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
            raw = data[i + 65:end]
        elif sep == b":":
            space = data.find(b" ", i + 65)
            digits = data[i + 65:space] if space > 0 else b""
            if not digits.isdigit() or len(digits) > 9:
                raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
            start = space + 1
            end = start + int(digits)
            if data[end:end + 1] != b"\n":
                raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
            raw = data[start:end]
        else:
            raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
        try:
            path = raw.decode()
        except UnicodeDecodeError:
            raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}") from None
        if not path:
            raise IntegrityError(f"malformed tree manifest entry {data[i:i + 80]!r}")
        tree[path] = vid.decode()
        i = end + 1
    return tree


# -- commits ----------------------------------------------------------------------------
def commit_text(tree_id: str, parents: tuple[str, ...], author: str, date: str, message: str) -> bytes:
    lines = [f"tree {tree_id}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author}", f"date {date}", "", message]
    return "\n".join(lines).encode()


def commit_id(tree_id: str, parents: tuple[str, ...], author: str, date: str, message: str) -> str:
    return sha256(commit_text(tree_id, parents, author, date, message))


@dataclass(frozen=True)
class StreamedVersion:
    """One version as VersionStore.stream_changes yields it."""

    row: VersionRow
    content: bytes
    added: bytes  # the lines it adds to its parent version (all of them without a parent)
    new_path: bool  # no parent, or a parent stored under another path
    base: list[bytes] | None = None  # the parent version's lines, when it has one
    lines: list[bytes] | None = None  # its own lines
    # where it differs from its parent when its diff says so: (first line, end of that
    # part in the parent, end in it); lines outside are the same in both
    span: tuple[int, int, int] | None = None


# -- version store ----------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """When to store a full snapshot instead of a diff (after Mercurial's revlog)."""

    # the defaults of core.max_chain_length (50, git's pack.depth) and core.max_chain_ratio
    max_chain_len: int = int(DEFAULTS["core"]["max_chain_length"])
    max_chain_ratio: float = float(DEFAULTS["core"]["max_chain_ratio"])
    compress_min: int = 64

    def stores_diff(self, diff_len: int, size: int, parent_chain_len: int,
                    parent_chain_bytes: int) -> bool:
        """Whether a version of SIZE bytes is stored as its DIFF_LEN-byte diff against a
        parent whose chain is PARENT_CHAIN_LEN diffs and PARENT_CHAIN_BYTES long."""
        return (diff_len < size
                and parent_chain_bytes + diff_len <= self.max_chain_ratio * max(size, 1)
                and parent_chain_len + 1 <= self.max_chain_len)


def _encode(data: bytes, policy: Policy) -> tuple[str, bytes]:
    if len(data) >= policy.compress_min:
        packed = zlib.compress(data, 6)
        if len(packed) < len(data) * 0.9:
            return "zlib", packed
    return "raw", data


def _decode(row: VersionRow) -> bytes:
    if row.codec == "zlib":
        try:
            return zlib.decompress(row.data)
        except zlib.error:
            raise IntegrityError(
                f"version {row.id[:12]} ({row.path or row.kind}) is damaged: its stored data "
                "does not decompress",
                hint="run `pvc fsck` for a full report",
            ) from None
    return bytes(row.data)


class VersionReader:
    """Reads versions back, verified, from anything that gives their diff chains (a
    repository's store, or a database file opened read-only for serving)."""

    def __init__(self, chains: VersionChainReader, cache_size: int = 256):
        self.chains = chains
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, vid: str, content: bytes) -> None:
        self._cache[vid] = content
        self._cache.move_to_end(vid)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the cache of rebuilt contents (the next get reads the rows again)."""
        self._cache.clear()

    def _lines_or_none(self, vid: str) -> list[bytes] | None:
        try:
            return delta.split_lines(self.get(vid))
        except IntegrityError:
            return None

    def get(self, vid: str) -> bytes:
        """The full content of a version, checked against its SHA-256."""
        hit = self._cache.get(vid)
        if hit is not None:
            self._cache.move_to_end(vid)
            return hit
        rows = self.chains.version_chain(vid)
        if not rows or rows[-1].id != vid:
            raise IntegrityError(
                f"version {vid[:12]} is missing from the repository",
                hint="run `pvc fsck` for a full report",
            )
        content = self._rebuild(rows)
        if sha256(content) != vid:
            raise IntegrityError(
                f"version {vid[:12]} ({rows[-1].path or rows[-1].kind}) is damaged: its content "
                "does not match its SHA-256",
                hint="run `pvc fsck` for a full report",
            )
        self._remember(vid, content)
        return content

    def _rebuild(self, rows: list[VersionRow]) -> bytes:
        start = 0
        content = None
        for i in range(len(rows) - 1, 0, -1):  # resume from the newest cached text
            content = self._cache.get(rows[i].id)
            if content is not None:
                start = i
                break
        if content is None:
            first = rows[0]
            if first.storage != "snapshot":
                raise IntegrityError(
                    f"version {rows[-1].id[:12]} has a broken chain: base {first.id[:12]} "
                    "is missing",
                    hint="run `pvc fsck` for a full report",
                )
            content = _decode(first)
        diffs = []
        for row in rows[start + 1:]:
            diffs.append(_decode(row))
        try:
            return delta.apply_chain(content, diffs)
        except delta.DeltaError:
            pass
        # find the first diff that does not apply, to name it
        for row, diff in zip(rows[start + 1:], diffs):
            try:
                content = delta.apply_delta(content, diff)
            except delta.DeltaError as exc:
                raise IntegrityError(
                    f"version {row.id[:12]} ({row.path or row.kind}) is damaged: its diff does not "
                    f"apply ({exc})",
                    hint="run `pvc fsck` for a full report",
                ) from None
        return content  # pragma: no cover - apply_chain failed but each step applied

    def decode_row(self, row: VersionRow) -> bytes:
        return _decode(row)


class VersionStore(VersionReader):
    """Writes versions as diffs or snapshots and reads them back, verified."""

    def __init__(self, store: Store, policy: Policy | None = None, cache_size: int = 256):
        super().__init__(store, cache_size)
        self.store = store
        self.policy = policy or Policy()

    def put(self, content: bytes, *, kind: str, parent: str | None, parent2: str | None = None,
            path: str | None, at: str) -> tuple[str, int, int]:
        """Store CONTENT (once) and return (version id, insertions, deletions) vs PARENT."""
        vid = sha256(content)
        parent_content = self.get(parent) if parent else None
        ins = dels = 0
        diff = None
        if parent_content is not None:
            diff, ins, dels = delta.make_delta(parent_content, content)
        elif content:
            ins = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
        if self.store.has_version(vid):
            self._remember(vid, content)
            return vid, ins, dels
        storage, data, chain_len, chain_bytes = "snapshot", content, 0, 0
        if diff is not None and parent is not None:
            meta = self.store.version_meta(parent)
            if meta is not None:
                _, p_len, p_bytes, _ = meta
                if self.policy.stores_diff(len(diff), len(content), p_len, p_bytes):
                    storage, data, chain_len, chain_bytes = ("diff", diff, p_len + 1,
                                                             p_bytes + len(diff))
        codec, stored = _encode(data, self.policy)
        self.store.insert_version(VersionRow(
            id=vid, kind=kind, parent_version_id=parent, parent2_version_id=parent2, path=path,
            storage=storage, codec=codec, data=stored, size=len(content), chain_len=chain_len,
            chain_bytes=chain_bytes, created_at=at,
        ))
        self._remember(vid, content)
        return vid, ins, dels

    def encode(self, data: bytes) -> tuple[str, bytes]:
        """(codec, stored bytes) for DATA under this store's policy."""
        return _encode(data, self.policy)

    def stream(self, kind: str | None = "prompt", window: int = 2048, after: int = 0
               ) -> Iterator[tuple[VersionRow, bytes]]:
        """(row, content) of every version of KIND (None: all) stored after the mark AFTER
        (Store.last_version_mark), in stored order, each checked against its SHA-256.

        The texts kept are the tips of the diff chains seen so far (a version replaces its
        base, which rarely has a second child), at most WINDOW of them: about one per file.
        A diff whose base is kept costs one apply; any other is rebuilt from its chain.
        So the whole history costs one diff apply per version, in memory bounded by the
        number of files, not the length of the history."""
        for item in self.stream_changes(kind, window, after):
            yield item.row, item.content

    def stream_changes(self, kind: str | None = "prompt", window: int = 2048, after: int = 0
                       ) -> Iterator["StreamedVersion"]:
        """Like `stream`, with what each version changed: the lines it adds to its parent
        version (all of its lines when it has none), and whether it starts a path (no
        parent, or a parent stored under another path). A diff's added lines are read from
        the diff itself; a snapshot's are found by diffing it against its parent."""
        recent: OrderedDict[str, tuple[str | None, list[bytes]]] = OrderedDict()
        for row in self.store.iter_versions_stored(kind=kind, after=after):
            parent = row.parent_version_id
            kept = recent.get(parent) if parent is not None else None
            lines = None
            added: list[bytes] | None = None
            span = None
            if kept is not None and row.storage == "diff":
                try:
                    diff = _decode(row)
                    lines = delta.apply_lines(kept[1], diff)
                    content = b"".join(lines)
                    added = delta.added_lines(diff)
                    span = delta.changed_span(diff)
                except delta.DeltaError:
                    content = b""
                if sha256(content) != row.id:
                    content, lines, added, span = self.get(row.id), None, None, None
            elif row.storage == "snapshot":
                content = _decode(row)
                if sha256(content) != row.id:
                    content = self.get(row.id)
            else:
                content = self.get(row.id)
            if lines is None:
                lines = delta.split_lines(content)
            base = None if parent is None else (
                kept[1] if kept is not None else self._lines_or_none(parent))
            if added is None:
                added = lines if base is None else delta.added_between(base, lines)
            parent_path = kept[0] if kept is not None else None
            if kept is None and parent is not None:
                parent_path = self.store.version_path(parent)
            new_path = parent is None or parent_path != row.path
            if parent is not None:
                recent.pop(parent, None)  # its child carries the chain on
            recent[row.id] = (row.path, lines)
            if len(recent) > window:
                recent.popitem(last=False)
            yield StreamedVersion(row, content, b"".join(added), new_path, base, lines, span)

    def stream_deltas(self, kind: str | None = "prompt"
                      ) -> Iterator[tuple[VersionRow, bytes | None, list[bytes], list[bytes]]]:
        """(row, content, added lines, removed lines) of every version of KIND in stored
        order, without rebuilding any text: a version stored as a diff against its parent
        gives its diff's lines (content None), a snapshot gives its content (and no lines).
        Nothing is checked against its SHA-256 (fsck does): for scans such as the pickaxe
        that only need what changed."""
        for row in self.store.iter_versions_stored(kind=kind):
            data = _decode(row)
            if row.storage == "diff":
                plus: list[bytes] = []
                minus: list[bytes] = []
                try:
                    hunks = delta.parse_hunks(data)
                except delta.DeltaError:
                    yield row, self.get(row.id), [], []  # names the damage precisely
                    continue
                for h in hunks:
                    for line in h.lines:
                        tag = line[:1]
                        if tag == b"+":
                            plus.append(line[1:])
                        elif tag == b"-":
                            minus.append(line[1:])
                yield row, None, plus, minus
            else:
                yield row, data, [], []
