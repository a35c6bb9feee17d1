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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

ROLE_MARK = "\x00role:"
MEDIA_MARK = "\x00media:"
HISTORY_MARK = "\x00history\x00"
BLOCK_HELPERS = ("if", "unless", "each", "with", "ifEquals", "unlessEquals")
INLINE_HELPERS = ("role", "json", "history", "section", "media")
_MISSING = object()


class TemplateError(ValueError):
    """The template does not compile, or a partial cannot be rendered. LINE is 1-based in
    the template text."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


# -- tokens -----------------------------------------------------------------------------------
@dataclass
class _Tag:
    kind: str  # var raw comment open inverse close else partial
    content: str
    line: int
    ltrim: bool = False
    rtrim: bool = False


def _tokenize(src: str) -> list:
    out: list = []
    pos = 0
    n = len(src)
    buf: list[str] = []
    while pos < n:
        i = src.find("{{", pos)
        if i < 0:
            buf.append(src[pos:])
            break
        if i > 0 and src[i - 1] == "\\":  # \{{ is a literal {{
            buf.append(src[pos:i - 1])
            j = src.find("}}", i)
            end = n if j < 0 else j + 2
            buf.append(src[i:end])
            pos = end
            continue
        buf.append(src[pos:i])
        line = src.count("\n", 0, i) + 1
        if buf:
            out.append("".join(buf))
            buf = []
        if src.startswith("{{!--", i) or src.startswith("{{~!--", i):
            j = src.find("--", i + 5)
            while j >= 0 and not (src.startswith("--}}", j) or src.startswith("--~}}", j)):
                j = src.find("--", j + 1)
            if j < 0:
                raise TemplateError("comment '{{!--' is never closed with '--}}'", line)
            rtrim = src.startswith("--~}}", j)
            out.append(_Tag("comment", "", line, src[i + 2] == "~", rtrim))
            pos = j + (5 if rtrim else 4)
            continue
        triple = src.startswith("{{{", i) or src.startswith("{{~{", i)
        close = "}}}" if triple else "}}"
        j = src.find(close, i + 2)
        if j < 0:
            raise TemplateError("'{{' is never closed with '" + close + "'", line)
        inner = src[i + (3 if triple else 2):j]
        pos = j + len(close)
        ltrim = inner.startswith("~")
        if ltrim:
            inner = inner[1:]
        if triple and inner.startswith("{"):
            inner = inner[1:]
        rtrim = inner.endswith("~")
        if rtrim:
            inner = inner[:-1]
        if triple and inner.endswith("}"):
            inner = inner[:-1]
        inner = inner.strip()
        if triple:
            kind = "raw"
        elif inner.startswith("!"):
            kind, inner = "comment", ""
        elif inner.startswith("#"):
            kind, inner = "open", inner[1:].strip()
        elif inner.startswith("^"):
            kind, inner = ("else", "") if inner == "^" else ("inverse", inner[1:].strip())
        elif inner.startswith("/"):
            kind, inner = "close", inner[1:].strip()
        elif inner.startswith(">"):
            kind, inner = "partial", inner[1:].strip()
        elif inner.startswith("&"):
            kind, inner = "raw", inner[1:].strip()
        elif inner == "else" or inner.startswith("else "):
            kind, inner = "else", inner[4:].strip()
        else:
            kind = "var"
        if not inner and kind in ("var", "raw", "open", "inverse", "close", "partial"):
            raise TemplateError("empty expression '{{}}'", line)
        out.append(_Tag(kind, inner, line, ltrim, rtrim))
    if buf:
        out.append("".join(buf))
    _whitespace(out)
    return out


_STANDALONE = ("open", "inverse", "close", "else", "partial", "comment")
_LEAD = re.compile(r"(?:^|\n)([ \t]*)$")
_TRAIL = re.compile(r"^[ \t]*(\r?\n|$)")


def _whitespace(tokens: list) -> None:
    """Apply `~` and Handlebars' standalone-line rule, in place."""
    for k, tok in enumerate(tokens):
        if isinstance(tok, _Tag):
            if tok.ltrim and k > 0 and isinstance(tokens[k - 1], str):
                tokens[k - 1] = tokens[k - 1].rstrip()
            if tok.rtrim and k + 1 < len(tokens) and isinstance(tokens[k + 1], str):
                tokens[k + 1] = tokens[k + 1].lstrip()
    last = len(tokens) - 1
    cuts = []  # (token index, strip trailing blanks of prev, strip leading line of next)
    for k, tok in enumerate(tokens):
        if not isinstance(tok, _Tag) or tok.kind not in _STANDALONE:
            continue
        prev = tokens[k - 1] if k > 0 else ""
        nxt = tokens[k + 1] if k < last else ""
        if not isinstance(prev, str) or not isinstance(nxt, str):
            continue
        lead = _LEAD.search(prev)
        trail = _TRAIL.match(nxt)
        if lead is None or trail is None:
            continue
        if "\n" not in prev and k - 1 > 0:  # the text before starts after another tag
            continue
        if not trail.group(1) and k + 1 < last:  # the text after ends before another tag
            continue
        cuts.append((k, len(lead.group(1)), trail.end()))
    for k, back, fwd in reversed(cuts):
        if k < last:
            tokens[k + 1] = tokens[k + 1][fwd:]
        if k > 0 and back:
            tokens[k - 1] = tokens[k - 1][:len(tokens[k - 1]) - back]


# -- expressions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    up: int = 0  # number of ../
    data: bool = False  # @index, @root...
    raw: str = ""


@dataclass(frozen=True)
class Lit:
    value: object


_ARG = re.compile(r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=)?(?P<val>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"'=]+)""")
_PARTIAL_NAME = re.compile(r"[A-Za-z0-9_./-]+")


def _parse_value(tok: str, line: int):
    if tok[0] in "\"'":
        return Lit(tok[1:-1].replace("\\" + tok[0], tok[0]))
    if tok in ("true", "false"):
        return Lit(tok == "true")
    if tok in ("null", "undefined"):
        return Lit(None)
    if re.fullmatch(r"-?\d+(\.\d+)?", tok):
        return Lit(float(tok) if "." in tok else int(tok))
    raw = tok
    up = 0
    while tok.startswith("../"):
        up += 1
        tok = tok[3:]
    data = tok.startswith("@")
    if data:
        tok = tok[1:]
    if tok.startswith("./"):
        tok = tok[2:]
    parts = tuple(p for p in re.split(r"[./]", tok) if p)
    if not parts or not all(re.fullmatch(r"[\w$-]+", p) for p in parts):
        raise TemplateError(f"'{raw}' is not a variable name", line)
    return Path(parts, up, data, raw)


def _parse_args(text: str, line: int) -> tuple[list, dict]:
    params: list = []
    hash_: dict = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"cannot read '{text}'", line)
        value = _parse_value(m.group("val"), line)
        if m.group("key"):
            hash_[m.group("key")] = value
        elif hash_:
            raise TemplateError(f"positional argument after key=value in '{text}'", line)
        else:
            params.append(value)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return params, hash_


# -- nodes ------------------------------------------------------------------------------------
@dataclass
class Var:
    expr: object
    line: int


@dataclass
class Helper:
    name: str
    params: list
    hash: dict
    line: int


@dataclass
class Block:
    name: str
    params: list
    hash: dict
    line: int
    body: list = field(default_factory=list)
    inverse: list = field(default_factory=list)


@dataclass
class Partial:
    name: str
    params: list
    hash: dict
    line: int


def _parse(tokens: list) -> list:
    root: list = []
    stack: list[tuple[Block, list, bool]] = []  # (block, list being filled, in_else)
    current = root
    for tok in tokens:
        if isinstance(tok, str):
            if tok:
                current.append(tok)
            continue
        if tok.kind == "comment":
            continue
        if tok.kind in ("var", "raw"):
            head, _, rest = tok.content.partition(" ")
            if head in INLINE_HELPERS:
                params, hash_ = _parse_args(rest, tok.line)
                current.append(Helper(head, params, hash_, tok.line))
            elif rest.strip():
                raise TemplateError(f"unknown helper '{head}'", tok.line)
            else:
                current.append(Var(_parse_value(head, tok.line), tok.line))
            continue
        if tok.kind == "partial":
            name, _, rest = tok.content.partition(" ")
            if name[:1] in "\"'":
                name = name[1:-1]
            if not _PARTIAL_NAME.fullmatch(name):
                raise TemplateError(f"'{name}' is not a partial name", tok.line)
            params, hash_ = _parse_args(rest, tok.line)
            current.append(Partial(name, params, hash_, tok.line))
            continue
        if tok.kind in ("open", "inverse"):
            head, _, rest = tok.content.partition(" ")
            if tok.kind == "inverse":  # {{^x}} is {{#unless x}}
                rest, head = tok.content, "unless"
            if head not in BLOCK_HELPERS:
                raise TemplateError(f"unknown block helper '#{head}'", tok.line)
            params, hash_ = _parse_args(rest, tok.line)
            want = 2 if head in ("ifEquals", "unlessEquals") else 1
            if len(params) != want:
                raise TemplateError(f"'#{head}' takes {want} argument{'s' if want > 1 else ''}",
                                    tok.line)
            block = Block(head, params, hash_, tok.line)
            current.append(block)
            stack.append((block, current, False))
            current = block.body
            continue
        if tok.kind == "else":
            if not stack:
                raise TemplateError("'{{else}}' outside a block", tok.line)
            block, parent, in_else = stack[-1]
            if in_else and not tok.content:
                raise TemplateError(f"second '{{{{else}}}}' in '#{block.name}'", tok.line)
            if tok.content:  # {{else if x}}: a nested block that shares the closing tag
                head, _, rest = tok.content.partition(" ")
                if head not in ("if", "unless"):
                    raise TemplateError(f"'{{{{else {head}}}}}' is not supported", tok.line)
                params, hash_ = _parse_args(rest, tok.line)
                if len(params) != 1:
                    raise TemplateError(f"'else {head}' takes 1 argument", tok.line)
                nested = Block(head, params, hash_, tok.line)
                block.inverse.append(nested)
                stack[-1] = (block, parent, True)
                stack.append((nested, block.inverse, False))
                stack[-1] = (nested, None, False)  # type: ignore[assignment]
                current = nested.body
                continue
            stack[-1] = (block, parent, True)
            current = block.inverse
            continue
        if tok.kind == "close":
            if not stack:
                raise TemplateError(f"'{{{{/{tok.content}}}}}' closes nothing", tok.line)
            # unwind {{else if}} chains, which close with their outer block
            while stack[-1][1] is None:
                stack.pop()
            block, parent, _ = stack.pop()
            if tok.content != block.name:
                raise TemplateError(f"'{{{{/{tok.content}}}}}' closes '#{block.name}' opened on "
                                    f"line {block.line}", tok.line)
            current = parent
            continue
    if stack:
        while stack and stack[-1][1] is None:
            stack.pop()
        if stack:
            block = stack[-1][0]
            raise TemplateError(f"'#{block.name}' opened here is never closed with "
                                f"'{{{{/{block.name}}}}}'", block.line)
    return root


# -- templates --------------------------------------------------------------------------------
class Template:
    """A compiled template. Render with a context and a partial loader."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = _parse(_tokenize(source))
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
