"""A logic-less renderer for `{{var}}` templates and Dotprompt's Handlebars bodies.

Covers what prompt files use: `{{var}}` and `{{a.b}}`, `{{{raw}}}`, `\\{{literal}}`,
comments `{{! }}` / `{{!-- --}}`, whitespace control `{{~ ~}}`, standalone lines (a block tag
alone on its line takes the line with it, as in Handlebars), blocks `{{#if}}` / `{{else}}` /
`{{else if}}`, `{{#unless}}`, `{{#each}}` (with `this`, `@index`, `@first`, `@last`, `@key`,
`../`), `{{#with}}`, Dotprompt's `{{#ifEquals a b}}`, `{{#unlessEquals a b}}`, `{{role "x"}}`,
`{{json x}}`, `{{history}}`, `{{section "x"}}`, `{{media url=...}}`, and partials
`{{> name}}`, `{{> name ctx key=value}}` loaded through a callback.

Strict: printing or looping over a variable that is not there is an error naming every
missing variable; `{{#if x}}`, `{{#unless x}}` and `{{#with x}}` on a missing `x` take the
false branch, as a prompt author expects of an optional input.
Nothing is HTML-escaped (Dotprompt renders with noEscape). No code runs: helpers are a
fixed list.

The syntax (tokens, whitespace control, the node tree) is promptvc.prompts.hb_syntax; this
module compiles a template and renders it.
Layer: a leaf of the prompts package (hb_syntax and the standard library only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .hb_syntax import (
    Block,
    Helper,
    Lit,
    Partial,
    Path,
    TemplateError,
    Var,
    parse,
    tokenize,
)

ROLE_MARK = "\x00role:"
MEDIA_MARK = "\x00media:"
HISTORY_MARK = "\x00history\x00"
_MISSING = object()


# -- templates --------------------------------------------------------------------------------
class Template:
    """A compiled template. Render with a context and a partial loader."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = parse(tokenize(source))
        self._partials: list | None = None
        self._variables: dict | None = None

    def partials(self) -> list[tuple[str, int, bool]]:
        """(name, line, passes_its_own_context) of every partial, in order."""
        if self._partials is None:
            self._partials = self._find_partials()
        return self._partials

    def variables(self) -> dict[str, int]:
        """Names the template reads from its top-level context -> first line used."""
        if self._variables is None:
            self._variables = self._find_variables()
        return dict(self._variables)

    def _find_partials(self) -> list[tuple[str, int, bool]]:
        out: list = []

        def walk(nodes):
            for node in nodes:
                if isinstance(node, Partial):
                    out.append((node.name, node.line, bool(node.params or node.hash)))
                elif isinstance(node, Block):
                    walk(node.body)
                    walk(node.inverse)
        walk(self.nodes)
        return out

    def _find_variables(self) -> dict[str, int]:
        found: dict[str, int] = {}

        def note(expr, depth: int, line: int) -> None:
            if not isinstance(expr, Path):
                return
            if expr.data:
                if expr.parts[0] == "root" and len(expr.parts) > 1:
                    found.setdefault(expr.parts[1], line)
                return
            if expr.parts[0] == "this" and depth - expr.up <= 0 and len(expr.parts) > 1:
                found.setdefault(expr.parts[1], line)
                return
            if expr.parts[0] != "this" and depth - expr.up <= 0:
                found.setdefault(expr.parts[0], line)

        def walk(nodes, depth: int) -> None:
            for node in nodes:
                if isinstance(node, Var):
                    note(node.expr, depth, node.line)
                elif isinstance(node, (Helper, Partial)):
                    for p in [*node.params, *node.hash.values()]:
                        note(p, depth, node.line)
                elif isinstance(node, Block):
                    for p in node.params:
                        note(p, depth, node.line)
                    inner = depth + 1 if node.name in ("each", "with") else depth
                    walk(node.body, inner)
                    walk(node.inverse, depth)
        walk(self.nodes, 0)
        return found

    def render(self, context: dict, load_partial=None) -> tuple[str, list[str]]:
        """The text and the names of missing variables (in order of first use)."""
        r = Run(load_partial)
        out: list[str] = []
        r.nodes(self.nodes, Frame(context, {}, None, context), out)
        return "".join(out), list(dict.fromkeys(r.missing))


@dataclass
class Frame:
    ctx: object
    data: dict
    parent: "Frame | None"
    root: object


def _truthy(value) -> bool:
    if value is _MISSING or value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, list, tuple)):
        return len(value) > 0
    return True


def _text(value) -> str:
    if value is None or value is _MISSING:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    # a value never forges a role or media marker (they are built from NUL characters)
    return str(value).replace("\x00", "")


class Run:
    def __init__(self, load_partial):
        self.load_partial = load_partial
        self.missing: list[str] = []
        self.stack: list[str] = []

    def value(self, expr, frame: Frame):
        if isinstance(expr, Lit):
            return expr.value
        f = frame
        for _ in range(expr.up):
            f = f.parent or f
        parts = expr.parts
        if expr.data:
            if parts[0] == "root":
                cur, parts = f.root, parts[1:]
            else:
                g: Frame | None = f
                while g is not None and parts[0] not in g.data:
                    g = g.parent
                if g is None:
                    return _MISSING
                cur, parts = g.data[parts[0]], parts[1:]
        else:
            cur = f.ctx
            if parts[0] == "this":
                parts = parts[1:]
        for part in parts:
            if isinstance(cur, dict):
                cur = cur.get(part, _MISSING)
            elif isinstance(cur, (list, tuple)) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            elif isinstance(cur, (list, tuple)) and part == "length":
                cur = len(cur)
            else:
                return _MISSING
            if cur is _MISSING:
                return _MISSING
        return cur

    def nodes(self, nodes: list, frame: Frame, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, Var):
                v = self.value(node.expr, frame)
                if v is _MISSING:
                    self.missing.append(node.expr.raw if isinstance(node.expr, Path) else "?")
                else:
                    out.append(_text(v))
            elif isinstance(node, Block):
                self.block(node, frame, out)
            elif isinstance(node, Helper):
                self.helper(node, frame, out)
            else:
                self.partial(node, frame, out)

    def block(self, node: Block, frame: Frame, out: list[str]) -> None:
        name = node.name
        if name in ("if", "unless"):
            yes = _truthy(self.value(node.params[0], frame))
            if name == "unless":
                yes = not yes
            self.nodes(node.body if yes else node.inverse, frame, out)
        elif name in ("ifEquals", "unlessEquals"):
            a, b = (self.value(p, frame) for p in node.params)
            yes = (a == b) if name == "ifEquals" else (a != b)
            self.nodes(node.body if yes else node.inverse, frame, out)
        elif name == "with":
            v = self.value(node.params[0], frame)
            if _truthy(v):
                self.nodes(node.body, Frame(v, {}, frame, frame.root), out)
            else:
                self.nodes(node.inverse, frame, out)
        else:  # each
            v = self.value(node.params[0], frame)
            if v is _MISSING:
                p = node.params[0]
                self.missing.append(p.raw if isinstance(p, Path) else "?")
                return
            if isinstance(v, dict):
                items = list(v.items())
            elif isinstance(v, (list, tuple)):
                items = list(enumerate(v))
            else:
                items = []
            if not items:
                self.nodes(node.inverse, frame, out)
                return
            last = len(items) - 1
            for i, (key, item) in enumerate(items):
                data = {"index": i, "first": i == 0, "last": i == last, "key": key}
                self.nodes(node.body, Frame(item, data, frame, frame.root), out)

    def helper(self, node: Helper, frame: Frame, out: list[str]) -> None:
        vals = [self.value(p, frame) for p in node.params]
        if node.name == "role":
            if len(vals) != 1 or not isinstance(vals[0], str) or \
                    not re.fullmatch(r"[a-z]+", vals[0]):
                raise TemplateError('role takes one role name, e.g. {{role "system"}}', node.line)
            out.append(f"{ROLE_MARK}{vals[0]}\x00")
        elif node.name == "json":
            if not vals or vals[0] is _MISSING:
                self.missing.append(node.params[0].raw if node.params and
                                    isinstance(node.params[0], Path) else "json")
                return
            indent = self.value(node.hash["indent"], frame) if "indent" in node.hash else None
            out.append(json.dumps(vals[0], ensure_ascii=False,
                                  indent=indent if isinstance(indent, int) else None))
        elif node.name == "history":
            out.append(HISTORY_MARK)
        elif node.name == "media":
            url = self.value(node.hash["url"], frame) if "url" in node.hash else _MISSING
            if url is _MISSING:
                self.missing.append(node.hash["url"].raw if isinstance(node.hash.get("url"), Path)
                                    else "url")
                return
            ctype = self.value(node.hash["contentType"], frame) if "contentType" in node.hash else ""
            out.append(f"{MEDIA_MARK}{_text(url)} {_text(ctype)}\x00")
        # section: a marker for tooling; renders as nothing

    def partial(self, node: Partial, frame: Frame, out: list[str]) -> None:
        if self.load_partial is None:
            raise TemplateError(f"partial '{node.name}' cannot be loaded here", node.line)
        if len(self.stack) > 32:
            chain = " -> ".join([*self.stack, node.name])
            raise TemplateError(f"partials nest too deep: {chain}", node.line)
        template = self.load_partial(node.name, node.line)
        ctx = self.value(node.params[0], frame) if node.params else frame.ctx
        if node.hash:
            base = dict(ctx) if isinstance(ctx, dict) else {}
            base.update({k: self.value(v, frame) for k, v in node.hash.items()
                         if self.value(v, frame) is not _MISSING})
            ctx = base
        self.stack.append(node.name)
        try:
            self.nodes(template.nodes, Frame(ctx, {}, frame, frame.root), out)
        finally:
            self.stack.pop()


def split_messages(text: str) -> list[dict] | None:
    """Split rendered text at {{role}} markers into chat messages (Dotprompt's rule: pieces
    that are only whitespace are dropped, text before the first marker is a user message)."""
    if ROLE_MARK not in text:
        return None
    messages: list[dict] = []
    role = "user"
    for piece in re.split(r"(\x00role:[a-z]+\x00)", text):
        if piece.startswith(ROLE_MARK):
            role = piece[len(ROLE_MARK):-1]
            continue
        if piece.strip():
            messages.append({"role": role, "content": clean(piece)})
    return messages


def clean(text: str) -> str:
    """Replace internal markers with readable text (media -> `[media: url]`)."""
    if "\x00" not in text:
        return text
    text = text.replace(HISTORY_MARK, "")
    return re.sub(r"\x00media:(\S*) ?([^\x00]*)\x00", lambda m: f"[media: {m.group(1)}]", text)
