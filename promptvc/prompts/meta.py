"""Metadata as data (`pvc show --meta`) and what changed in it (`pvc diff`, `pvc log -p`).

    describe(doc)            {"format", "model", "parameters", "inputs", "roles", ...}
    changes(old, new, path)  lines a prompt engineer reads at a glance:
                                 model: gpt-4o -> gpt-4.1
                                 temperature: 0.2 -> 0.7
                                 input added: tone
"""

from __future__ import annotations

import json

from .formats import PromptDoc, parse

_IGNORED = ("model", "config", "input", "inputs", "parameters")


def jsonable(value):
    """VALUE with what YAML may hold but JSON cannot (dates, odd keys) turned into strings."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def describe(doc: PromptDoc) -> dict:
    from .includes import references
    from .formats import PromptError

    try:
        includes = [name for name, _line, _kind, _own in references(doc).includes]
    except PromptError:
        includes = []
    return jsonable({
        "path": doc.path,
        "format": doc.format,
        "engine": doc.engine,
        "front_matter": doc.meta if doc.has_front_matter else None,
        "error": None if doc.error is None else f"{doc.path}:{doc.error[0]}: {doc.error[1]}",
        "model": doc.model,
        "parameters": doc.parameters,
        "inputs": None if doc.inputs is None else [i.to_json() for i in doc.inputs.values()],
        "roles": doc.roles,
        "includes": includes,
    })


def _show(value) -> str:
    value = jsonable(value)
    if isinstance(value, str):
        return value if value and value.strip() == value and "\n" not in value and \
            len(value) <= 60 else json.dumps(value if len(value) <= 60 else value[:57] + "...",
                                             ensure_ascii=False)
    return json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _pairs(label: str, old: dict, new: dict) -> list[str]:
    out = []
    for k in list(dict.fromkeys([*old, *new])):
        name = f"{label}{k}"
        if k not in new:
            out.append(f"{name} removed (was {_show(old[k])})")
        elif k not in old:
            out.append(f"{name} added: {_show(new[k])}")
        elif old[k] != new[k]:
            out.append(f"{name}: {_show(old[k])} -> {_show(new[k])}")
    return out


def changes_between(old: PromptDoc | None, new: PromptDoc | None) -> list[str]:
    if old is None and new is None:
        return []
    o_meta = old.meta if old is not None else {}
    n_meta = new.meta if new is not None else {}
    if not o_meta and not n_meta:
        return []
    out: list[str] = []
    o_model = old.model if old is not None else None
    n_model = new.model if new is not None else None
    if o_model != n_model:
        out.append(f"model: {o_model or '(none)'} -> {n_model or '(none)'}")
    out += _pairs("", _flat(old.parameters if old else {}), _flat(new.parameters if new else {}))
    o_in = (old.inputs or {}) if old is not None else {}
    n_in = (new.inputs or {}) if new is not None else {}
    for name in n_in:
        if name not in o_in:
            out.append(f"input added: {name}")
    for name in o_in:
        if name not in n_in:
            out.append(f"input removed: {name}")
    for name in n_in:
        if name in o_in:
            a, b = o_in[name], n_in[name]
            if a.type != b.type:
                out.append(f"input {name}: type {a.type} -> {b.type}")
            if a.optional != b.optional:
                out.append(f"input {name}: now {'optional' if b.optional else 'required'}")
            if a.has_default != b.has_default or (a.has_default and a.default != b.default):
                ad = _show(a.default) if a.has_default else "(none)"
                bd = _show(b.default) if b.has_default else "(none)"
                out.append(f"input {name}: default {ad} -> {bd}")
    o_roles = old.roles if old is not None else []
    n_roles = new.roles if new is not None else []
    if o_roles != n_roles and (o_roles or n_roles):
        out.append(f"roles: {', '.join(o_roles) or '(none)'} -> {', '.join(n_roles) or '(none)'}")
    rest_o = {k: v for k, v in _flat({k: v for k, v in o_meta.items() if k not in _IGNORED}).items()}
    rest_n = {k: v for k, v in _flat({k: v for k, v in n_meta.items() if k not in _IGNORED}).items()}
    rest_o.update(_model_rest(o_meta))
    rest_n.update(_model_rest(n_meta))
    params = set(_flat(new.parameters if new else {})) | set(_flat(old.parameters if old else {}))
    rest_o = {k: v for k, v in rest_o.items() if k not in params}
    rest_n = {k: v for k, v in rest_n.items() if k not in params}
    out += _pairs("", rest_o, rest_n)
    return out


_MODEL_NAME_KEYS = ("model.configuration.model", "model.configuration.azure_deployment",
                    "model.configuration.name", "model.name")


def _model_rest(meta: dict) -> dict:
    """A Prompty `model:` mapping's other settings (api, configuration), flattened."""
    model = meta.get("model")
    if not isinstance(model, dict):
        return {}
    flat = _flat({"model": {k: v for k, v in model.items() if k != "parameters"}})
    return {k: v for k, v in flat.items() if k not in _MODEL_NAME_KEYS}


def _maybe(data: bytes | None, path: str) -> PromptDoc | None:
    if data is None or not data.startswith(b"---"):
        return None
    doc = parse(data, path)
    return None if doc.error is not None else doc


def changes(old: bytes | None, new: bytes | None, old_path: str, new_path: str) -> list[str]:
    """What changed in the front matter between two versions (empty when nothing did, or when
    either side's front matter does not parse)."""
    a, b = _maybe(old, old_path), _maybe(new, new_path)
    if (old is not None and old.startswith(b"---") and a is None) or \
            (new is not None and new.startswith(b"---") and b is None):
        return []
    return changes_between(a, b)


# -- diffs with a metadata summary ------------------------------------------------------------
def tree_pairs(repo, old_tree: dict, new_tree: dict, paths=None) -> list[tuple]:
    """(old_path, new_path, old bytes | None, new bytes | None) of each changed file."""
    sel = list(paths or [])
    out = []
    for c in repo.tree_changes(old_tree, new_tree):
        if sel and not any(_under(c.path, s) or (c.old_path and _under(c.old_path, s))
                           for s in sel):
            continue
        a = repo.read_version(c.old_id) if c.old_id else None
        b = repo.read_version(c.new_id) if c.new_id else None
        out.append((c.old_path or c.path, c.path, a, b))
    return out


def _under(path: str, sel: str) -> bool:
    return not sel or path == sel or path.startswith(sel.rstrip("/") + "/")


def diff_pairs(repo, rev_a: str | None, rev_b: str | None, paths=None) -> list[tuple]:
    """The file pairs `Repo.diff(rev_a, rev_b, paths)` compares, with their contents."""
    sel = [repo.rel(p) for p in (paths or [])]
    if rev_b is not None:
        return tree_pairs(repo, repo.tree(repo.resolve(rev_a)), repo.tree(repo.resolve(rev_b)),
                          sel)

    def work(rel: str) -> bytes | None:
        p = repo.abspath(rel)
        try:
            return None if p.is_symlink() or not p.is_file() else p.read_bytes()
        except OSError:
            return None

    out = []
    if rev_a is not None:
        base = repo.tree(repo.resolve(rev_a))
        tracked = set(repo.tracked())
        for rel in sorted(set(base) | tracked):
            if sel and not any(_under(rel, s) for s in sel):
                continue
            a = repo.read_version(base[rel]) if rel in base else None
            b = work(rel) if rel in tracked else None
            if a != b:
                out.append((rel, rel, a, b))
        return out
    changes, _ = repo.working_changes(sel or None)
    for c in changes:
        a = repo.read_version(c.old_id) if c.old_id else None
        b = None if c.status == "D" else work(c.path)
        out.append((c.old_path or c.path, c.path, a, b))
    return out


def summaries(pairs: list[tuple]) -> dict[tuple[str, str], list[str]]:
    out = {}
    for old_path, new_path, a, b in pairs:
        lines = changes(a, b, old_path, new_path)
        if lines:
            out[(old_path, new_path)] = lines
    return out


def summary_block(path: str, lines: list[str]) -> str:
    return f"metadata {path}\n" + "".join(f"    {line}\n" for line in lines)


def annotate(diff: bytes, pairs: list[tuple]) -> bytes:
    """DIFF with each file's metadata summary just above its `diff --git` line. Tools that
    apply patches (`git apply`, `patch -p1`) skip such lines between files."""
    found = summaries(pairs)
    if not found:
        return diff
    for (old_path, new_path), lines in found.items():
        header = b"diff --git a/" + old_path.encode() + b" b/" + new_path.encode() + b"\n"
        block = summary_block(new_path, lines).encode("utf-8")
        if diff.startswith(header):
            diff = block + diff
        else:
            diff = diff.replace(b"\n" + header, b"\n" + block + header, 1)
    return diff


def pairs_json(pairs: list[tuple]) -> list[dict]:
    from ..delta import unified_diff

    out = []
    for old_path, new_path, a, b in pairs:
        status = "A" if a is None else "D" if b is None else ("R" if old_path != new_path else "M")
        out.append({"path": new_path, "old_path": old_path if old_path != new_path else None,
                    "status": status, "metadata": changes(a, b, old_path, new_path),
                    "diff": unified_diff(a, b, old_path, new_path).decode("utf-8", "replace")})
    return out


def describe_text(info: dict) -> str:
    """`pvc show --meta` as text."""
    rows = [("format", info["format"])]
    if info["error"]:
        rows.append(("error", info["error"]))
    if info["front_matter"] is None:
        rows.append(("front matter", "(none)"))
    if info["model"] is not None:
        rows.append(("model", info["model"]))
    if info["parameters"]:
        rows.append(("parameters", ", ".join(f"{k}={_show(v)}" for k, v in
                                             _flat(info["parameters"]).items())))
    if info["inputs"] is not None:
        if not info["inputs"]:
            rows.append(("inputs", "(none)"))
        for n, i in enumerate(info["inputs"]):
            text = f"{i['name']}{'?' if i['optional'] else ''}: {i['type']}"
            if "default" in i:
                text += f" = {_show(i['default'])}"
            if i["description"]:
                text += f"  ({i['description']})"
            rows.append(("inputs" if n == 0 else "", text))
    if info["roles"]:
        rows.append(("roles", ", ".join(info["roles"])))
    if info["includes"]:
        rows.append(("includes", ", ".join(info["includes"])))
    extra = {k: v for k, v in (info["front_matter"] or {}).items() if k not in _IGNORED}
    for k, v in _flat(extra).items():
        if k not in _flat(info["parameters"]):
            rows.append((k, _show(v)))
    width = max(len(k) for k, _ in rows) + 1
    return "".join(f"{(k + ':') if k else '':<{width}} {v}\n" for k, v in rows)
