"""The include graph of prompt files, read statically (no rendering).

    references(doc)              variables read (name -> line) and includes (name, line, kind)
    closure(snapshot, path)      every file PATH includes, transitively, with the includes that
                                 do not resolve and the cycles found on the way
    commits_following_includes   `pvc log --follow-includes`: commits that changed a file or
                                 anything it included at that commit
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .formats import PromptDoc, PromptError
from .sources import Snapshot, resolve


@dataclass
class Refs:
    variables: dict[str, int]
    includes: list[tuple[str, int, str, bool]]  # (name, line, kind, passes own context)


def references(doc: PromptDoc) -> Refs:
    """Raises PromptError when the body does not compile."""
    if doc.format == "data":
        return Refs({}, [])
    if doc.engine == "jinja":
        from .render import jinja_references

        variables, incs = jinja_references(doc)
        return Refs(variables, [(n, line, "jinja", False) for n, line in incs])
    from .render import compile_handlebars

    t = compile_handlebars(doc)
    variables = {n: doc.file_line(line) for n, line in t.variables().items()}
    return Refs(variables, [(n, doc.file_line(line), "partial", own)
                            for n, line, own in t.partials()])


@dataclass
class Closure:
    files: list[str] = field(default_factory=list)  # resolved includes, transitively
    missing: list[tuple[str, str, int]] = field(default_factory=list)  # (from, name, line)
    cycles: list[tuple[list[str], int]] = field(default_factory=list)  # (chain, line in root)
    variables: dict[str, int] = field(default_factory=dict)  # read by the includes


def _doc(snapshot: Snapshot, path: str) -> PromptDoc | None:
    from .render import parse_cached

    data = snapshot.read(path)
    if data is None:
        return None
    return parse_cached(data, path, snapshot.version(path))


def closure(snapshot: Snapshot, path: str, doc: PromptDoc | None = None,
            refs: Refs | None = None) -> Closure:
    out = Closure()
    root = doc or _doc(snapshot, path)
    if root is None:
        return out
    seen_cycles: set[tuple[str, ...]] = set()
    known = refs

    def visit(d: PromptDoc, chain: list[str], root_line: int | None) -> None:
        try:
            refs = known if d is root and known is not None else references(d)
        except PromptError:
            return  # reported by the check of that file itself
        if len(chain) > 1:
            for name, line in refs.variables.items():
                out.variables.setdefault(name, root_line or line)
        for name, line, kind, own in refs.includes:
            target = resolve(snapshot, d.path, name, kind)
            at = root_line if root_line is not None else line
            if target is None:
                out.missing.append((d.path, name, line))
                continue
            if target in chain:
                cyc = tuple(chain[chain.index(target):] + [target])
                if cyc not in seen_cycles:
                    seen_cycles.add(cyc)
                    out.cycles.append((list(chain) + [target], at))
                continue
            if target not in out.files:
                out.files.append(target)
            sub = _doc(snapshot, target)
            if sub is not None and not own:
                visit(sub, chain + [target], at)
            elif sub is not None:
                before = dict(out.variables)
                visit(sub, chain + [target], at)
                out.variables = before  # its variables come from the hash, not the caller

    visit(root, [path], None)
    return out


def commits_following_includes(repo, rev: str | None, path: str, limit: int | None = None):
    """Commits reachable from REV that changed PATH, or a file PATH included at that commit
    (or at its first parent), newest first."""
    from .sources import TreeSnapshot

    commits = repo.log(rev)
    if not commits:
        return []
    changes = repo.changes_many([c.id for c in commits])
    cache: dict[str, frozenset[str]] = {}

    def files_at(cid: str | None) -> frozenset[str]:
        if cid is None:
            return frozenset()
        hit = cache.get(cid)
        if hit is not None:
            return hit
        tree = repo.tree(cid)
        snap = TreeSnapshot(tree, repo.read_version, key=cid)
        names = frozenset([path, *closure(snap, path).files]) if path in tree else frozenset([path])
        cache[cid] = names
        return names

    out = []
    for c in commits:
        touched = {ch.path for ch in changes.get(c.id, [])} | \
                  {ch.old_path for ch in changes.get(c.id, []) if ch.old_path}
        if not touched:
            continue
        parent = c.parents[0] if c.parents else None
        if touched & files_at(c.id) or touched & files_at(parent):
            out.append(c)
            if limit is not None and len(out) >= limit:
                break
    return out
