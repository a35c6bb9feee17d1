"""Text embedders for `pvc search`, behind one small interface, chosen in the config.

``[search] embedder`` picks one:

- ``none`` (the default): no vectors; search is full-text only and says so.
- ``wordllama``: a local static-embedding model whose weights ship inside the ``wordllama``
  wheel (``pip install 'promptvc[search]'``); no download, works offline.
- ``openai``: an OpenAI-compatible ``POST <url>/embeddings`` endpoint (``search.url``,
  ``search.model``); the bearer token is read from the environment variable named by
  ``search.token_env`` at call time, sent only to that URL's host, never stored or printed.

An embedder returns unit-length float32 vectors as little-endian bytes (what libSQL's
``vector32()`` takes). Heavy imports (numpy, wordllama) happen only in :func:`load`.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Protocol, Sequence

from .errors import ConfigError, SearchError

MAX_CHARS = 8000  # longer texts are cut before embedding (prompts rarely are)
WORDLLAMA_CHARS = 2000  # a static model averages tokens: the start of a text says enough


class Embedder(Protocol):
    model: str  # identifies the vector space: vectors of two models never mix

    def embed(self, texts: Sequence[str]) -> list[bytes]: ...


def pack(vec: Sequence[float]) -> bytes:
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return struct.pack(f"<{len(vec)}f", *(x / norm for x in vec))


def unpack(blob: bytes) -> tuple[float, ...]:
    n = len(blob) // 4
    return struct.unpack(f"<{n}f", blob[:n * 4])


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return 1.0 - dot / (na * nb)


class WordLlamaEmbedder:
    """wordllama's bundled 256-d model, loaded from the package folder with downloads off
    (its loader looks for ``tokenizer/`` in the cache folder; the wheel ships the files the
    package folder needs, so the package folder itself is the cache)."""

    def __init__(self, dim: int = 256):
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError:
            raise ConfigError(
                "search.embedder is 'wordllama' but the wordllama package is not installed",
                hint="install it with `pip install 'promptvc[search]'`, or set "
                     "`pvc config search.embedder none`") from None
        folder = os.path.dirname(wordllama.__file__)
        try:
            self._model = WordLlama.load(dim=dim, cache_dir=folder, disable_download=True)
        except Exception as exc:  # noqa: BLE001 - a broken install: say what happened
            raise SearchError(f"cannot load the wordllama model from {folder}: {exc}",
                              hint="reinstall it with `pip install --force-reinstall wordllama`") from None
        self.model = f"wordllama:{dim}"

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        if not texts:
            return []
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):  # an empty text has no norm
            matrix = self._model.embed([t[:WORDLLAMA_CHARS] for t in texts], norm=True)
        matrix = np.nan_to_num(matrix, nan=0.0)
        return [row.astype("<f4").tobytes() for row in matrix]


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint: POST {url}/embeddings with
    ``{"model": ..., "input": [...]}``, answer ``{"data": [{"index": i, "embedding": [...]}]}``."""

    def __init__(self, url: str, model: str, token_env: str | None, timeout: float = 10.0,
                 batch: int = 64):
        from urllib.parse import urlsplit

        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"search.url {url!r} is not an http(s) URL",
                              hint="set it with `pvc config search.url http://HOST:PORT/v1`")
        if parts.username or parts.password:
            raise ConfigError("search.url must not carry credentials",
                              hint="put the token in an environment variable named by "
                                   "search.token_env")
        if not model:
            raise ConfigError("search.embedder is 'openai' but search.model is not set",
                              hint="set it with `pvc config search.model MODEL`")
        self._parts = parts
        self._name = model
        self._token_env = token_env
        self.timeout = timeout
        self.batch = batch
        self.model = f"openai:{parts.hostname}:{parts.port or ''}{parts.path.rstrip('/')}:{model}"

    def _post(self, body: bytes) -> dict:
        import http.client

        parts = self._parts
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = os.environ.get(self._token_env) if self._token_env else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        path = parts.path.rstrip("/") + "/embeddings"
        where = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{path}"
        try:
            conn = conn_cls(parts.hostname or "", parts.port, timeout=self.timeout)  # checked in __init__
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()  # redirects are not followed: the token stays put
                raw = resp.read(16 * 1024 * 1024)
            finally:
                conn.close()
        except OSError as exc:
            raise SearchError(f"the embeddings endpoint {where} did not answer: "
                              f"{type(exc).__name__}: {_redact(str(exc), token)}",
                              hint="check search.url, or search full-text only with "
                                   "--text-only") from None
        if resp.status != 200:
            detail = _redact(raw[:200].decode("utf-8", "replace"), token).strip()
            raise SearchError(f"the embeddings endpoint {where} answered HTTP {resp.status}"
                              + (f": {detail}" if detail else ""),
                              hint="check search.url, search.model and the token in "
                                   f"${self._token_env or 'the environment'}")
        try:
            return json.loads(raw)
        except ValueError:
            raise SearchError(f"the embeddings endpoint {where} did not answer JSON",
                              hint="check that search.url points at an OpenAI-compatible API") from None

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        out: list[bytes] = []
        for start in range(0, len(texts), self.batch):
            chunk = [t[:MAX_CHARS] or " " for t in texts[start:start + self.batch]]
            answer = self._post(json.dumps({"model": self._name, "input": chunk}).encode())
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, list) or len(data) != len(chunk):
                raise SearchError("the embeddings endpoint answered without one embedding per input",
                                  hint="check that search.url points at an OpenAI-compatible API")
            vecs: list[bytes | None] = [None] * len(chunk)
            dim = None
            for pos, item in enumerate(data):
                emb = item.get("embedding") if isinstance(item, dict) else None
                idx = item.get("index", pos) if isinstance(item, dict) else pos
                if (not isinstance(emb, list) or not emb or not isinstance(idx, int)
                        or not 0 <= idx < len(chunk)
                        or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in emb)):
                    raise SearchError("the embeddings endpoint answered a malformed embedding",
                                      hint="check that search.url points at an OpenAI-compatible API")
                if dim is not None and len(emb) != dim:
                    raise SearchError("the embeddings endpoint answered vectors of different sizes",
                                      hint="check search.model")
                dim = len(emb)
                vecs[idx] = pack(emb)
            if any(v is None for v in vecs):
                raise SearchError("the embeddings endpoint skipped an input",
                                  hint="check that search.url points at an OpenAI-compatible API")
            out.extend(v for v in vecs if v is not None)
        return out


def _redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "[redacted]")
    return text


def load(config) -> Embedder | None:
    """The embedder the repository config asks for, or None (full-text only)."""
    kind = (config.get("search", "embedder") or "none").strip().lower()
    if kind in ("", "none", "off"):
        return None
    if kind == "wordllama":
        return WordLlamaEmbedder()
    if kind == "openai":
        return OpenAIEmbedder(config.get("search", "url") or "", config.get("search", "model") or "",
                              config.get("search", "token_env"),
                              timeout=config.get_float("search", "timeout", 10.0))
    raise ConfigError(f"search.embedder {kind!r} is not known",
                      hint="use none, wordllama or openai")
