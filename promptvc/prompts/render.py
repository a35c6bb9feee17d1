"""Render a prompt file: one entry point for every format.

    render(doc, variables, snapshot)  -> Rendered(text, messages)
    render_file(data, path, variables, snapshot, key=version_id)   parse + render, cached

Jinja and .prompty bodies render in Jinja2's SandboxedEnvironment with a strict undefined
(printing, looping over or calling a missing variable is an error; `{% if x %}` on a missing
`x` is false, `x | default(...)` works). Other formats use the logic-less renderer in
handlebars.py. Variables are the front matter's defaults, then (with use_sample) a .prompty's
`sample`, then the caller's. Includes are read from SNAPSHOT only: the including file's commit.

Compiled templates are cached by content, so a warm render costs a dictionary look-up and the
template's own work.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from . import handlebars as hb
from .formats import ROLE_LINE, PromptDoc, PromptError, UndefinedVariables, defaults_of, parse
from .sources import Snapshot, candidates, resolve


@dataclass
class Rendered:
    path: str
    format: str
    text: str
    messages: list[dict] | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "format": self.format, "text": self.text,
                "messages": self.messages}


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


_docs = _LRU(1024)
_hb_templates = _LRU(1024)
_lock = threading.Lock()


def parse_cached(data: bytes, path: str, key: str | None = None) -> PromptDoc:
    k = (path, key) if key is not None else (path, data)
    doc = _docs.get(k)
    if doc is None:
        doc = parse(data, path)
        with _lock:
            _docs.put(k, doc)
    return doc


def render_file(data: bytes, path: str, variables: dict, snapshot: Snapshot | None = None, *,
                key: str | None = None, use_sample: bool = False) -> Rendered:
    """Parse (cached by KEY, a version id, when given) and render."""
    return render(parse_cached(data, path, key), variables, snapshot, use_sample=use_sample)


def render(doc: PromptDoc, variables: dict, snapshot: Snapshot | None = None, *,
           use_sample: bool = False) -> Rendered:
    if doc.error is not None:
        line, message = doc.error
        raise PromptError(f"{doc.path}:{line}: {message}", path=doc.path, line=line,
                          hint="fix the front matter (YAML between the two '---' lines)")
    context = defaults_of(doc)
    if use_sample:
        context.update(doc.sample)
    context.update(variables)
    if doc.engine == "jinja":
        text = _render_jinja(doc, context, snapshot)
    else:
        text = _render_handlebars(doc, context, snapshot)
    messages = None
    if doc.format == "prompty":
        messages = prompty_messages(text)
    elif doc.engine == "handlebars" and "\x00" in text:
        messages = hb.split_messages(text)
        text = hb.clean(text) if messages is None else format_messages(messages)
    if messages is not None:
        text = format_messages(messages)
    return Rendered(doc.path, doc.format, text, messages)


def format_messages(messages: list[dict]) -> str:
    return "".join(f"{'' if i == 0 else chr(10)}{m['role']}:\n{m['content'].strip()}\n"
                   for i, m in enumerate(messages))


def prompty_messages(text: str) -> list[dict]:
    """Prompty's rule: a line holding only `role:` starts a message; text before the first
    one is a system message; contents are stripped; empty messages are dropped."""
    messages: list[dict] = []
    role = "system"
    pos = 0
    for m in ROLE_LINE.finditer(text):
        chunk = text[pos:m.start()]
        if chunk.strip():
            messages.append({"role": role, "content": chunk.strip()})
        role = m.group(1).lower()
        pos = m.end()
    chunk = text[pos:]
    if chunk.strip():
        messages.append({"role": role, "content": chunk.strip()})
    return messages


# -- handlebars -------------------------------------------------------------------------------
def compile_handlebars(doc: PromptDoc) -> hb.Template:
    t = _hb_templates.get(doc.body)
    if t is None:
        try:
            t = hb.Template(doc.body)
        except hb.TemplateError as exc:
            line = doc.file_line(exc.line)
            raise PromptError(f"{doc.path}:{line}: template does not compile: {exc.message}",
                              path=doc.path, line=line) from None
        with _lock:
            _hb_templates.put(doc.body, t)
    return t


def _render_handlebars(doc: PromptDoc, context: dict, snapshot: Snapshot | None) -> str:
    template = compile_handlebars(doc)
    stack = [doc.path]

    def load(name: str, line: int) -> hb.Template:
        current = stack[-1]
        target = resolve(snapshot, current, name, "partial") if snapshot is not None else None
        if target is None or snapshot is None:
            tried = ", ".join(candidates(current, name, "partial")[:4])
            raise PromptError(f"{current}: include '{name}' does not resolve (looked for "
                              f"{tried}, ...)", path=current,
                              hint="add the file, or fix the name in {{> ...}}")
        if target in stack:
            raise PromptError("include cycle: " + " -> ".join([*stack, target]), path=doc.path,
                              hint="remove one of the includes")
        data = snapshot.read(target) or b""
        sub = parse_cached(data, target, snapshot.version(target))
        stack.append(target)
        return compile_handlebars(sub)

    class _Tracking(hb.Run):  # keeps the include stack in step with the partials rendered
        def partial(self, node, frame, out):
            depth = len(stack)
            try:
                super().partial(node, frame, out)
            finally:
                del stack[depth:]

    run = _Tracking(load)
    out: list[str] = []
    try:
        run.nodes(template.nodes, hb.Frame(context, {}, None, context), out)
    except hb.TemplateError as exc:
        raise PromptError(f"{doc.path}: {exc.message}", path=doc.path) from None
    missing = list(dict.fromkeys(run.missing))
    if missing:
        raise UndefinedVariables(missing, doc.path)
    return "".join(out)


# -- jinja ------------------------------------------------------------------------------------
_state = threading.local()
_env = None


def jinja_env():
    """The one sandboxed Jinja2 environment (created on first use)."""
    global _env
    if _env is not None:
        return _env
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    class PromptUndefined(jinja2.StrictUndefined):
        """StrictUndefined, except that `{% if x %}` on a missing x is false."""

        __slots__ = ()

        def __bool__(self):
            return False

        def __str__(self):
            names = getattr(_state, "collect", None)
            if names is not None and self._undefined_obj is jinja2.utils.missing:
                names.append(self._undefined_name)
                return ""
            return self._fail_with_undefined_error()

        def __getattr__(self, name):
            if name[:2] == "__":
                raise AttributeError(name)
            names = getattr(_state, "collect", None)
            if names is not None and self._undefined_obj is jinja2.utils.missing:
                names.append(self._undefined_name)  # `user.name` with no `user`: name `user`
                return jinja2.Undefined(name="")
            return self._fail_with_undefined_error()

        def __iter__(self):
            names = getattr(_state, "collect", None)
            if names is not None and self._undefined_obj is jinja2.utils.missing:
                names.append(self._undefined_name)
                return iter(())
            return self._fail_with_undefined_error()

    class SnapshotLoader(jinja2.BaseLoader):
        """Template names are `<content digest>|<path>`; the text comes from the snapshot
        being rendered (see join_path), so a name never means two contents."""

        def get_source(self, environment, template):
            sources = getattr(_state, "sources", {})
            if template not in sources:
                raise jinja2.TemplateNotFound(template)
            return sources[template], template.split("|", 1)[-1], lambda: True

    class PromptEnvironment(SandboxedEnvironment):
        def join_path(self, template, parent):
            parent_path = parent.split("|", 1)[-1]
            snapshot = getattr(_state, "snapshot", None)
            target = resolve(snapshot, parent_path, template, "jinja") if snapshot else None
            if target is None:
                tried = ", ".join(candidates(parent_path, template, "jinja"))
                raise PromptError(f"{parent_path}: include '{template}' does not resolve "
                                  f"(looked for {tried})", path=parent_path,
                                  hint="add the file, or fix the name in {% include %}")
            parents = _state.parents  # child -> the file that included it, this render
            chain = [parent_path]
            while chain[-1] in parents and len(chain) < 64:
                chain.append(parents[chain[-1]])
            if target in chain:
                chain.reverse()
                raise PromptError("include cycle: " + " -> ".join([*chain, target]),
                                  path=chain[0], hint="remove one of the includes")
            parents[target] = parent_path
            sub = parse_cached(snapshot.read(target) or b"", target, snapshot.version(target))
            return _register(sub)

    _env = PromptEnvironment(loader=SnapshotLoader(), undefined=PromptUndefined,
                             keep_trailing_newline=True, autoescape=False, cache_size=2048,
                             auto_reload=False)
    return _env


def _register(doc: PromptDoc) -> str:
    name = hashlib.sha1(doc.body.encode("utf-8", "surrogatepass")).hexdigest()[:20] + "|" + doc.path
    sources = getattr(_state, "sources", None)
    if sources is None:
        sources = _state.sources = {}
    if name not in sources:
        if len(sources) > 4096:
            sources.clear()
        sources[name] = doc.body
    return name


def compile_jinja(doc: PromptDoc):
    import jinja2

    env = jinja_env()
    name = _register(doc)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        line = doc.file_line(exc.lineno or 1)
        raise PromptError(f"{doc.path}:{line}: template does not compile: {exc.message}",
                          path=doc.path, line=line) from None


def _render_jinja(doc: PromptDoc, context: dict, snapshot: Snapshot | None) -> str:
    import jinja2
    from jinja2.sandbox import SecurityError

    template = compile_jinja(doc)
    _state.snapshot = snapshot
    _state.parents = {}
    try:
        try:
            return template.render(context)
        except jinja2.UndefinedError as exc:
            first = exc.message
        names: list[str] = []
        _state.collect = names
        try:
            template.render(context)
        except jinja2.UndefinedError as exc:
            raise PromptError(f"in {doc.path}: {exc.message}", path=doc.path,
                              hint="pass the variable, or guard it with {% if %}") from None
        finally:
            _state.collect = None
        if names:
            raise UndefinedVariables(list(dict.fromkeys(names)), doc.path)
        raise PromptError(f"in {doc.path}: {first}", path=doc.path)
    except jinja2.TemplateSyntaxError as exc:  # in an included file
        where = exc.filename or doc.path
        raise PromptError(f"{where}:{exc.lineno}: template does not compile: {exc.message}",
                          path=where, line=exc.lineno) from None
    except SecurityError as exc:
        raise PromptError(f"in {doc.path}: the sandbox refused: {exc}", path=doc.path) from None
    except RecursionError:
        raise PromptError(f"in {doc.path}: includes nest too deep (a cycle?)",
                          path=doc.path) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        if isinstance(exc, PromptError):
            raise
        raise PromptError(f"in {doc.path}: {type(exc).__name__}: {exc}", path=doc.path) from None
    finally:
        _state.snapshot = None


def jinja_references(doc: PromptDoc) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """(variables read -> first line, includes (name, line)) of a Jinja body, from its AST.
    Raises PromptError when the body does not compile."""
    import jinja2
    from jinja2 import meta, nodes

    env = jinja_env()
    try:
        ast = env.parse(doc.body)
    except jinja2.TemplateSyntaxError as exc:
        line = doc.file_line(exc.lineno or 1)
        raise PromptError(f"{doc.path}:{line}: template does not compile: {exc.message}",
                          path=doc.path, line=line) from None
    undeclared = meta.find_undeclared_variables(ast)
    lines: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.name in undeclared and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    variables = {n: doc.file_line(lines.get(n, 1)) for n in sorted(undeclared, key=lambda n: (
        lines.get(n, 0), n))}
    includes = []
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        if isinstance(node.template, nodes.Const) and isinstance(node.template.value, str):
            includes.append((node.template.value, doc.file_line(node.lineno)))
    return variables, includes


