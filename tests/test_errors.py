"""Errors carry codes: one hierarchy, and no control flow on message text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from promptvc import errors
from promptvc.errors import TRANSIENT, ErrorCode, PvcError, RemoteError

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "promptvc").rglob("*.py")), *sorted((ROOT / "daemon").rglob("*.py")),
           *sorted((ROOT / "tui").rglob("*.py"))]

# Control flow on the text of an error that has no better handle, each with its reason, as
# (file, the text looked for); None: the whole file.  Nothing else may look inside a message.
ALLOWED = {
    ("promptvc/store/connection.py", None):
        "the one place where libSQL's errors, which carry no codes, become coded PvcErrors",
    ("promptvc/remote/sqld.py", "Address already in use"):
        "the sqld process reports a busy port only on its stderr",
    ("promptvc/remote/sqld.py", "os error 98"): "the same, as the OS words it",
    # store/primary.py `refusal`: the one reader of a primary's error text (a Refusal kind)
    ("promptvc/store/primary.py", "unauthorized"):
        "sqld reports a refused token inside a statement error, by its text only",
    ("promptvc/store/primary.py", "authorization forbidden"): "the same",
    ("promptvc/store/primary.py", "no such table: pvc_writer"):
        "a format-1 primary has no writer table; sqld says so by text only",
    ("promptvc/store/primary.py", "no such table"):
        "sqld answers a missing table with the generic SQLITE_ERROR code",
    ("promptvc/store/primary.py", "cas_guard"): "the same, for the format-1 guard statement",
    ("promptvc/gitread.py", "\n"): "a git commit message's last newline, not an error",
    ("tui/filters.py", "quotation"): "shlex reports an unclosed quote by text only",
}
MESSAGE_NAMES = {"message", "msg"}


def _message_reads(tree: ast.AST) -> list[tuple[int, str, str | None]]:
    """Where code tests the text of an error or of a report: `"x" in exc.message`,
    `p.message.startswith(...)`, `"x" in str(exc)`, `text = str(exc).lower(); "x" in text`,
    `message.startswith(...)`.  Returns (line, what is read, the literal looked for)."""
    caught = {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}

    def text_of(node: ast.AST) -> str | None:
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("lower", "upper", "strip", "casefold"):
            node = node.func.value
        if isinstance(node, ast.Attribute) and node.attr in MESSAGE_NAMES \
                and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        if isinstance(node, ast.Name) and node.id in MESSAGE_NAMES:
            return node.id
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "str" and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in caught:
            return f"str({node.args[0].id})"
        return None

    def literals(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Tuple):
            return [x for e in node.elts for x in literals(e)]
        return []

    text_vars = {}  # `text = str(exc).lower()`, then `"x" in text`
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and text_of(node.value):
            text_vars[node.targets[0].id] = text_of(node.value)

    def read(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in text_vars:
            return text_vars[node.id]
        return text_of(node)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 \
                and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            what = read(node.comparators[0])
            for lit in literals(node.left) if what else []:
                found.append((node.lineno, what, lit))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith") and node.args:
            what = read(node.func.value)
            for lit in literals(node.args[0]) if what else []:
                found.append((node.lineno, what, lit))
    return found


def test_no_control_flow_on_message_text():
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        if (rel, None) in ALLOWED:
            continue
        for line, what, lit in _message_reads(ast.parse(path.read_text(), rel)):
            if (rel, lit) not in ALLOWED:
                offenders.append(f"{rel}:{line}: decides on the text of {what} ({lit!r})")
    assert offenders == [], "\n".join(offenders)


def test_the_scan_finds_what_it_looks_for():
    code = (
        "try:\n    f()\nexcept E as exc:\n"
        "    if exc.message.startswith('cannot reach'):\n        pass\n"
        "    if 'no answer' in str(exc):\n        pass\n"
        "    text = str(exc).lower()\n    if 'busy' in text:\n        pass\n"
        "    log(exc.message)\n"
        "damaged = {p.object for p in problems if not p.message.startswith(('unreadable',))\n"
        "           or 'missing' in p.message}\n"
    )
    assert sorted((w, lit) for _, w, lit in _message_reads(ast.parse(code))) == [
        ("exc.message", "cannot reach"), ("p.message", "missing"), ("p.message", "unreadable"),
        ("str(exc)", "busy"), ("str(exc)", "no answer")]


def test_one_hierarchy_with_codes():
    from promptvc.remote import hrana, replica, sqld
    from promptvc.remote.db_backends import BackendError

    expect = {
        hrana.HranaError: ErrorCode.REMOTE, hrana.AuthError: ErrorCode.AUTH,
        hrana.ConnectError: ErrorCode.UNREACHABLE, hrana.RemoteTimeout: ErrorCode.TIMEOUT,
        hrana.NotFoundError: ErrorCode.NOT_FOUND, hrana.StatementError: ErrorCode.STATEMENT,
        sqld.SqldError: ErrorCode.SQLD, sqld.AdminError: ErrorCode.SQLD_ADMIN,
        replica.SyncFailed: ErrorCode.SYNC, BackendError: ErrorCode.BACKEND,
    }
    for cls, code in expect.items():
        assert issubclass(cls, PvcError) and cls.error_code is code, cls
    # their constructors and fields are what they were
    err = hrana.StatementError("UNIQUE constraint failed", "SQLITE_CONSTRAINT", 2, "INSERT")
    assert (err.message, err.code, err.step, err.error_code) == (
        "UNIQUE constraint failed", "SQLITE_CONSTRAINT", 2, ErrorCode.STATEMENT)
    admin = sqld.AdminError(400, "already exists", method="POST", path="/v1/namespaces/x/create")
    assert (admin.status, admin.message, str(admin)) == (
        400, "already exists", "sqld admin POST /v1/namespaces/x/create: HTTP 400: already exists")
    assert replica.SyncFailed("timed out", timed_out=True).error_code is ErrorCode.TIMEOUT
    assert isinstance(hrana.ConnectError("x"), ConnectionError)
    assert isinstance(sqld.SqldError("x"), RuntimeError)


def test_every_pvc_error_class_has_its_own_code():
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, PvcError) and c is not PvcError]
    assert classes
    assert [c.__name__ for c in classes if c.error_code is ErrorCode.ERROR] == []


def test_codes_and_fields():
    exc = RemoteError("cannot reach example.org", hint="try later",
                      error_code=ErrorCode.UNREACHABLE, remote="origin")
    assert exc.transient and exc.fields == {"remote": "origin"}
    assert exc.to_json() == {"code": "unreachable", "message": "cannot reach example.org",
                             "hint": "try later", "remote": "origin"}
    assert not RemoteError("refused").transient
    assert RemoteError("refused").error_code is ErrorCode.REMOTE
    assert TRANSIENT == {ErrorCode.UNREACHABLE, ErrorCode.TIMEOUT}
    assert str(ErrorCode.NON_FAST_FORWARD) == "non-fast-forward"


@pytest.mark.parametrize("exc_type,code,transient", [
    ("ConnectError", ErrorCode.UNREACHABLE, True),
    ("RemoteTimeout", ErrorCode.TIMEOUT, True),
    ("AuthError", ErrorCode.AUTH, False),
    ("NotFoundError", ErrorCode.NOT_FOUND, False),
])
def test_remote_errors_explained_keep_their_code(exc_type, code, transient):
    """The retry loops and the daemon's "offline" read these codes, not the wording."""
    from promptvc.remote import calls as transfer
    from promptvc.remote import hrana
    from promptvc.remote.remotes import Remote

    remote = Remote(name="origin", url="http://127.0.0.1:9")
    explained = transfer._explain(remote, getattr(hrana, exc_type)("x"), "fetch")
    assert (explained.error_code, explained.transient) == (code, transient)
