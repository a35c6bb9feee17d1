"""grep, pickaxe and ranked search: outputs against git on the same history, ranking on a
labelled set, embedders (wordllama when installed, an OpenAI-compatible endpoint on
loopback), and the index kept consistent by commit, import, fetch, the daemon and reindex."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ENV = {"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
       "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com",
       "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str, date: str = "2024-01-01T10:00:00+00:00") -> str:
    env = dict(os.environ, **ENV, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    proc = subprocess.run(["git", "-c", "core.quotepath=false", *args], cwd=cwd, env=env,
                          capture_output=True)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc.stdout.decode("utf-8")


# A small prompt history: edits, an add, a delete, a pure rename, a rename with an edit,
# a line moved, CRLF, no final newline, unicode.
HISTORY: list[tuple[str, dict[str, str | None], list[tuple[str, str]]]] = [
    ("Add support and json prompts", {
        "prompts/support.md": "You are a support agent.\nOffer a refund within 30 days.\n"
                              "Be polite.\n",
        "prompts/json.md": "Answer in JSON only.\nNo prose.\nReturn an object.\n",
        "notes.txt": "refund notes\nsecond line",
    }, []),
    ("Shorter refund window", {
        "prompts/support.md": "You are a support agent.\nOffer a refund within 14 days.\n"
                              "Be polite.\n",
    }, []),
    ("Drop JSON-only rule", {
        "prompts/json.md": "Answer briefly.\nNo prose.\nReturn an object.\n",
        "prompts/café.md": "Réponds en français.\nSois poli.\r\nRefund: remboursement.\r\n",
    }, []),
    ("Move support prompt", {}, [("prompts/support.md", "prompts/help/support.md")]),
    ("Polite first", {
        "prompts/help/support.md": "Be polite.\nYou are a support agent.\n"
                                   "Offer a refund within 14 days.\n",
        "notes.txt": None,
    }, []),
    ("Rename json and reword", {}, [("prompts/json.md", "prompts/format.md")]),
    ("Reword format", {
        "prompts/format.md": "Answer briefly.\nNo prose at all.\nReturn an object.\n",
    }, []),
    ("Bring JSON back", {
        "prompts/format.md": "Answer in JSON only.\nNo prose at all.\nReturn an object.\n"
                             "Refund amounts are numbers.\n",
    }, []),
]


def build_git_history(src: Path) -> None:
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    for i, (msg, files, moves) in enumerate(HISTORY):
        for old, new in moves:
            (src / new).parent.mkdir(parents=True, exist_ok=True)
            git(src, "mv", old, new)
        for name, text in files.items():
            p = src / name
            if text is None:
                p.unlink()
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(text.encode("utf-8"))
        git(src, "add", "-A")
        git(src, "commit", "-q", "-m", msg, date=f"2024-01-{i + 1:02d}T10:00:00+00:00")


@pytest.fixture
def imported(tmp_path, pvc, monkeypatch):
    """(git repository, pvc repository) holding the same history."""
    src = tmp_path / "src"
    build_git_history(src)
    dst = tmp_path / "dst"
    dst.mkdir()
    monkeypatch.chdir(dst)
    assert pvc("init").exit_code == 0
    r = pvc("import", "git", str(src))
    assert r.exit_code == 0, r.output
    return src, dst


GREP_CASES = [
    ["refund"],
    ["-n", "refund"],
    ["-i", "-n", "REFUND"],
    ["-E", "refund|JSON"],
    ["-n", r"ref\(und\)"],
    ["-F", "a.b"],
    ["-n", "^You"],
    ["-c", "o"],
    ["-l", "polite"],
    ["-n", r"[[:digit:]]\+ days"],
    ["-E", "-n", r"[0-9]{2} days$"],
    ["-v", "-n", "o"],
    ["-n", "poli"],
    ["-i", "RÉPONDS"],
]


@needs_git
@pytest.mark.parametrize("args", GREP_CASES, ids=lambda a: " ".join(a))
def test_grep_matches_git_grep(imported, pvc, args):
    src, _ = imported
    for revs in ([], ["HEAD~2"], ["HEAD~6", "HEAD"]):
        expected = git(src, "grep", *args, *revs)
        r = pvc("grep", *args, *revs)
        assert r.stdout == expected, (args, revs)
        assert r.exit_code == (0 if expected else 1)


@needs_git
def test_grep_paths_and_subfolder(imported, pvc, monkeypatch):
    src, dst = imported
    assert pvc("grep", "-n", "o", "--", "prompts/help").stdout == \
        git(src, "grep", "-n", "o", "--", "prompts/help")
    assert pvc("grep", "-l", "o", "HEAD~3", "--", "*.md").stdout == \
        git(src, "grep", "-l", "o", "HEAD~3", "--", "*.md")
    monkeypatch.chdir(dst / "prompts")
    assert pvc("grep", "-n", "o").stdout == git(src / "prompts", "grep", "-n", "o")


PICKAXE_CASES = [
    ["-S", "refund"],
    ["-S", "JSON"],
    ["-S", "14 days"],
    ["-S", "Be polite."],
    ["-S", "json", "-i"],
    ["-G", "refund"],
    ["-G", "^Answer"],
    ["-G", "prose( at all)?"],
    ["-G", "JSON", "-i"],
    ["-S", "polite", "--", "prompts/help"],
    ["-G", "o", "--", "prompts/format.md"],
    ["-S", "nothing like this"],
    ["-G", "Be polite"],  # a line moved: a minimal diff keeps it, as git's does
    ["-G", "second"],  # a last line without its newline
    ["-G", "line$"],
]


@needs_git
@pytest.mark.parametrize("args", PICKAXE_CASES, ids=lambda a: " ".join(a))
def test_pickaxe_matches_git_log(imported, pvc, args):
    src, _ = imported
    opts = [a for a in args if a != "-i"]
    extra = ["--regexp-ignore-case"] if "-i" in args else []
    dd = opts.index("--") if "--" in opts else len(opts)
    expected = git(src, "log", "--format=%s", *opts[:dd], *extra, *opts[dd:]).splitlines()
    r = pvc("log", "--json", *args)
    assert r.exit_code == 0, r.output
    assert [c["message"] for c in json.loads(r.stdout)] == expected


def _long_history(src: Path, n: int = 60) -> None:
    """One prompt edited N times: chains long enough to hold snapshots, an occurrence
    added, moved to another line (same count), doubled, removed."""
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    body = [f"rule {i}: keep it short\n" for i in range(40)]
    for i in range(n):
        body[i % 40] = f"rule {i % 40}: edit {i}\n"
        if i % 7 == 3:
            body[(i * 3) % 40] = "mind the refund window\n"
        if i % 11 == 5:
            body = [line.replace("refund", "return") for line in body]
        if i % 13 == 0:
            body[5] = "refund refund\nwindow\n"
        (src / "p.md").write_text("".join(body))
        git(src, "add", "-A")
        git(src, "commit", "-q", "-m", f"edit {i}", date=f"2024-02-01T10:{i:02d}:00+00:00")
        if i == 20:
            early = "".join(body)
    # changes that are not a version against its parent: a revert to an older text, a
    # delete, and an add of a text stored before
    for j, (msg, text) in enumerate([("revert to edit 20", early), ("delete", None),
                                     ("add back", early)]):
        if text is None:
            (src / "p.md").unlink()
        else:
            (src / "p.md").write_text(text)
        git(src, "add", "-A")
        git(src, "commit", "-q", "-m", msg, date=f"2024-02-01T11:{j:02d}:00+00:00")


@needs_git
@pytest.mark.parametrize("args", [["-S", "refund"], ["-S", "REFUND", "-i"],
                                  ["-S", "refund\nwindow"], ["-S", "edit 4"],
                                  ["-G", "refund"], ["-G", "^rule 1"], ["-G", "window$"],
                                  ["-G", "EDIT 5", "-i"]],
                         ids=lambda a: " ".join(a))
def test_pickaxe_over_long_chains_matches_git(tmp_path, pvc, monkeypatch, args):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _long_history(src)
    dst.mkdir()
    monkeypatch.chdir(dst)
    assert pvc("init").exit_code == 0
    assert pvc("import", "git", str(src)).exit_code == 0
    conn = sqlite3.connect(dst / ".pvc" / "pvc.db")
    storages = {r[0] for r in conn.execute("SELECT storage FROM versions WHERE kind = 'prompt'")}
    conn.close()
    assert storages == {"snapshot", "diff"}  # the count follows diffs and restarts at snapshots
    extra = ["--regexp-ignore-case"] if "-i" in args else []
    expected = git(src, "log", "--format=%s", *[a for a in args if a != "-i"], *extra).splitlines()
    r = pvc("log", "--json", *args)
    assert r.exit_code == 0, r.output
    assert [c["message"] for c in json.loads(r.stdout)] == expected and expected


def test_changes_touching_many_versions_is_one_pass(repo, pvc):
    for i in range(3):
        _write_commit(pvc, {"a.md": f"text {i}\n"}, f"c{i}")
    from promptvc.repo import Repo

    r = Repo.open(repo)
    ix = r.store.search_index()
    real = sorted(ix.indexed_versions())
    few = ix.changes_touching_versions(real)
    many = ix.changes_touching_versions(real + [f"{i:064x}" for i in range(1000)])
    r.close()
    assert len(few) == 3 and sorted(many) == sorted(few)


@needs_git
def test_pickaxe_oneline_output(imported, pvc):
    r = pvc("log", "--oneline", "-S", "14 days")
    lines = r.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["Shorter refund window"]
    assert pvc("log", "-S", "x", "-G", "y").exit_code == 2


def _write_commit(pvc, files: dict[str, str], msg: str) -> None:
    for name, text in files.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text, encoding="utf-8")
        assert pvc("add", name).exit_code == 0
    r = pvc("commit", "-m", msg)
    assert r.exit_code == 0, r.output


def test_grep_all_versions_names_the_commits(repo, pvc):
    _write_commit(pvc, {"a.md": "refund in 30 days\n"}, "one")
    _write_commit(pvc, {"a.md": "refund in 14 days\n"}, "two")
    _write_commit(pvc, {"a.md": "refund in 30 days\n"}, "back")  # the first text again
    ids = [c["id"][:8] for c in json.loads(pvc("log", "--json").stdout)]
    r = pvc("grep", "--all-versions", "-n", "30")
    assert r.exit_code == 0
    assert r.stdout == f"{ids[2]},{ids[0]}:a.md:1:refund in 30 days\n"
    data = json.loads(pvc("grep", "--all-versions", "--json", "14").stdout)
    assert [(m["path"], m["commits"]) for m in data["matches"]] == [
        ("a.md", [json.loads(pvc("log", "--json").stdout)[1]["id"]])]
    r = pvc("grep", "--all-versions", "absent")
    assert (r.exit_code, r.stdout) == (1, "")


def test_grep_errors(repo, pvc):
    _write_commit(pvc, {"a.md": "x\n"}, "one")
    r = pvc("grep", "[abc")
    assert r.exit_code == 1
    assert r.stderr == "error: unmatched [ in pattern '[abc'\nhint: close the bracket expression\n"
    r = pvc("grep", "x", "nosuchrev")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: unknown revision 'nosuchrev'")
    r = pvc("grep", "--all-versions", "x", "HEAD")
    assert r.exit_code == 2


# -- ranked search -----------------------------------------------------------------------------
LABELLED = {
    "support/refunds.md": "Customers may ask for their money back. Refunds are issued within "
                          "14 days to the original card. Never promise a refund for gift cards.",
    "support/shipping.md": "Explain delivery times. Parcels ship from the warehouse in two "
                           "business days; tracking numbers arrive by email.",
    "support/tone.md": "Be warm and polite. Apologise once, then solve the problem. Avoid "
                       "jargon and keep sentences short.",
    "format/json.md": "Answer with a single JSON object and nothing else. Keys: answer, "
                      "confidence. Do not wrap it in markdown.",
    "format/markdown.md": "Format the answer as markdown with headings and bullet lists; put "
                          "code in fenced blocks.",
    "code/review.md": "You review pull requests. Point out bugs, missing tests and unclear "
                      "names. Suggest concrete fixes.",
    "code/sql.md": "Write SQL queries for SQLite. Use parameters, never string formatting, "
                   "and explain each join.",
    "translate/french.md": "Translate the user's text into French. Keep names and numbers "
                           "unchanged. Use the formal vous.",
    "translate/german.md": "Translate into German with a neutral register; keep product names "
                           "in English.",
    "safety/medical.md": "Do not give a diagnosis. Suggest seeing a doctor for symptoms, and "
                         "call emergency services when life is at risk.",
    "safety/legal.md": "You are not a lawyer. Give general information about contracts and "
                       "recommend a qualified attorney.",
    "summarise/meeting.md": "Summarise the meeting transcript: decisions, owners, deadlines, "
                            "open questions.",
}
QUERIES = {
    "refund window for returns": "support/refunds.md",
    "delivery tracking email": "support/shipping.md",
    "polite apologise": "support/tone.md",
    "json object only": "format/json.md",
    "markdown headings": "format/markdown.md",
    "review pull requests tests": "code/review.md",
    "sqlite query parameters": "code/sql.md",
    "translate french": "translate/french.md",
    "german translation": "translate/german.md",
    "doctor diagnosis symptoms": "safety/medical.md",
    "lawyer contracts": "safety/legal.md",
    "meeting decisions deadlines": "summarise/meeting.md",
}


def recall_at_5(pvc, queries: dict[str, str], *extra: str) -> float:
    found = 0
    for q, want in queries.items():
        res = json.loads(pvc("search", q, "-n", "5", "--json", *extra).stdout)
        found += want in [h["path"] for h in res["results"]]
    return found / len(queries)


@pytest.fixture
def labelled(repo, pvc):
    _write_commit(pvc, LABELLED, "labelled set")
    return repo


def test_search_text_only_ranks_labelled_set(labelled, pvc):
    assert recall_at_5(pvc, QUERIES) == 1.0
    r = pvc("search", "refund gift cards")
    assert r.exit_code == 0
    assert r.stderr == ("note: no embedder configured: full-text only (set `pvc config "
                        "search.embedder wordllama`)\n")
    first = r.stdout.splitlines()[:2]
    head = json.loads(pvc("log", "--json").stdout)[0]["id"]
    res = json.loads(pvc("search", "refund gift cards", "--json").stdout)
    top = res["results"][0]
    assert res["mode"] == "text" and res["note"].startswith("no embedder configured")
    assert (top["path"], top["commit"], top["score"], top["vector_score"]) == \
        ("support/refunds.md", head, 1.0, None)
    assert first == [f"1.000  support/refunds.md  version {top['version'][:8]}  commit {head[:8]}",
                     "    " + top["snippet"]]
    spans = [top["snippet"][a:b] for a, b in top["highlights"]]
    assert spans and all(s.lower().startswith(("refund", "gift", "card")) for s in spans)


def test_text_scores_follow_bm25(repo, pvc):
    _write_commit(pvc, {"a.md": "refund refund refund: the refund window is 30 days\n",
                        "b.md": "a refund is possible\n" + "other words here\n" * 20,
                        "c.md": "shipping times and tracking\n",
                        "d.md": "gift cards\n", "e.md": "opening hours\n"}, "five")
    res = json.loads(pvc("search", "refund", "--json").stdout)["results"]
    assert [(h["path"], h["score"]) for h in res][0] == ("a.md", 1.0)
    assert [h["path"] for h in res] == ["a.md", "b.md"]
    assert 0 < res[1]["score"] < 1.0  # the index keeps term counts: BM25 tells them apart


def test_search_scopes(repo, pvc):
    _write_commit(pvc, {"a.md": "the refund policy\n"}, "one")
    _write_commit(pvc, {"a.md": "the return policy\n"}, "two")
    assert json.loads(pvc("search", "refund", "--json").stdout)["results"] == []
    old = json.loads(pvc("search", "refund", "--rev", "HEAD~1", "--json").stdout)["results"]
    every = json.loads(pvc("search", "refund", "--all-versions", "--json").stdout)["results"]
    first = json.loads(pvc("log", "--json").stdout)[1]["id"]
    assert [(h["path"], h["commit"]) for h in old] == [("a.md", first)]
    assert [(h["path"], h["commits"]) for h in every] == [("a.md", [first])]
    assert pvc("search", "x", "--rev", "HEAD", "--all-versions").exit_code == 2
    assert pvc("search").exit_code == 2


class HashEmbedder:
    """A deterministic embedder for tests: hashed bag of stemmed words."""

    model = "test:hash64"

    def embed(self, texts):
        from promptvc.embedders import pack

        out = []
        for t in texts:
            vec = [0.0] * 64
            for w in t.lower().split():
                w = w.strip(".,;:!?'\"")[:5]
                if w:
                    vec[int(hashlib.sha256(w.encode()).hexdigest(), 16) % 64] += 1.0
            out.append(pack(vec if any(vec) else [1.0] + [0.0] * 63))
        return out


def test_hybrid_weights_and_like(labelled, pvc):
    from promptvc import search as S
    from promptvc.repo import Repo

    repo = Repo.open()
    try:
        emb = HashEmbedder()
        assert S.index_vectors(repo, emb) == len(LABELLED)
        assert S.index_vectors(repo, emb) == 0  # cached by content hash
        res = S.search(repo, "translate french", embedder=emb)
        assert res.mode == "hybrid" and res.note is None
        top = res.hits[0]
        assert top.path == "translate/french.md"
        assert top.score == pytest.approx(0.3 * top.text_score + 0.7 * top.vector_score)
        repo.config.set("search", "text_weight", "1")
        repo.config.set("search", "vector_weight", "0")
        res = S.search(repo, "translate french", embedder=emb)
        assert [h.score for h in res.hits] == [h.text_score for h in res.hits]
        like = S.search(repo, "", like="support/refunds.md", embedder=emb)
        assert "support/refunds.md" not in [h.path for h in like.hits]
        assert like.hits[0].path == "support/shipping.md" or like.hits[0].vector_score > 0
    finally:
        repo.close()


def _has_wordllama() -> bool:
    try:
        import wordllama  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_wordllama(), reason="wordllama (promptvc[search]) not installed")
def test_wordllama_hybrid_recall(labelled, pvc):
    assert pvc("config", "search.embedder", "wordllama").exit_code == 0
    semantic = {"money back": "support/refunds.md", "parcel arrival": "support/shipping.md",
                "see a physician": "safety/medical.md", "attorney advice": "safety/legal.md"}
    text_only = recall_at_5(pvc, semantic, "--text-only")
    hybrid = recall_at_5(pvc, {**QUERIES, **semantic})
    res = json.loads(pvc("search", "money back", "--json").stdout)
    assert res["mode"] == "hybrid" and res["note"] is None
    assert res["results"][0]["path"] == "support/refunds.md"
    assert hybrid >= 0.9
    assert text_only < 1.0 or hybrid == 1.0
    st = json.loads(pvc("search", "--status", "--json").stdout)
    assert st["models"] == [{"model": "wordllama:256", "dim": 256, "vectors": len(LABELLED),
                             "current": True}]


# -- an OpenAI-compatible endpoint on loopback ------------------------------------------------------
class _Embeddings(BaseHTTPRequestHandler):
    token = ""
    calls: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append((self.path, self.headers.get("Authorization"), body))
        if type(self).status != 200:
            payload = json.dumps({"error": {"message": f"bad token {type(self).token}"}}).encode()
            self.send_response(type(self).status)
        elif self.headers.get("Authorization") != f"Bearer {type(self).token}":
            payload = b'{"error": {"message": "unauthorised"}}'
            self.send_response(401)
        else:
            vecs = HashEmbedder().embed(body["input"])
            data = [{"object": "embedding", "index": i,
                     "embedding": list(struct.unpack(f"<{len(v) // 4}f", v))}
                    for i, v in reversed(list(enumerate(vecs)))]  # any order, by index
            payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(canary_token):
    _Embeddings.token, _Embeddings.calls, _Embeddings.status = canary_token, [], 200
    srv = HTTPServer(("127.0.0.1", 0), _Embeddings)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()
    t.join()


def test_openai_endpoint(labelled, pvc, endpoint, canary_token):
    for k, v in (("embedder", "openai"), ("url", endpoint), ("model", "text-embedding-3-small"),
                 ("token_env", "TURSO_AUTH_TOKEN")):
        assert pvc("config", f"search.{k}", v).exit_code == 0
    res = json.loads(pvc("search", "translate french", "--json").stdout)
    assert res["mode"] == "hybrid" and res["results"][0]["path"] == "translate/french.md"
    path, auth, body = _Embeddings.calls[0]
    assert (path, auth, body["model"]) == ("/v1/embeddings", f"Bearer {canary_token}",
                                           "text-embedding-3-small")
    assert len(_Embeddings.calls) == 3  # the dimension probe, the 12 documents, the query
    _Embeddings.status = 401  # the server echoes the token: pvc must not
    _write_commit(pvc, {"new.md": "new text\n"}, "more")
    r = pvc("search", "new text")
    assert r.exit_code == 0
    assert canary_token not in r.output
    assert r.stderr.startswith("note: embedder unavailable, full-text only: the embeddings "
                               f"endpoint {endpoint}/embeddings answered HTTP 401: ")
    assert "[redacted]" in r.stderr
    assert r.stdout.splitlines()[0].split()[1] == "new.md"


def test_endpoint_down_never_blocks_commit(labelled, pvc):
    assert pvc("config", "search.embedder", "openai").exit_code == 0
    assert pvc("config", "search.url", "http://127.0.0.1:9/v1").exit_code == 0
    assert pvc("config", "search.model", "m").exit_code == 0
    _write_commit(pvc, {"x.md": "fresh refund text\n"}, "works offline")
    st = json.loads(pvc("search", "--status", "--json").stdout)
    assert (st["documents"], st["pending"]) == (len(LABELLED) + 1, 0)
    r = pvc("search", "fresh", "--json")
    res = json.loads(r.stdout)
    assert res["mode"] == "text" and res["note"].startswith(
        "embedder unavailable, full-text only: the embeddings endpoint "
        "http://127.0.0.1:9/v1/embeddings did not answer")
    assert pvc("config", "search.url", "file:///etc/passwd").exit_code == 1  # refused when set
    cfg = labelled / ".pvc" / "config"  # and when read from the file
    cfg.write_text(cfg.read_text().replace("url = http://127.0.0.1:9/v1", "url = file:///etc/passwd"))
    r = pvc("search", "fresh")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: search.url 'file:///etc/passwd' is not an http(s) URL")


# -- index consistency ------------------------------------------------------------------------------
def _status(pvc) -> dict:
    return json.loads(pvc("search", "--status", "--json").stdout)


def _ids(root: Path, sql: str) -> set[str]:
    """The hex ids SQL selects from the repository database at ROOT (read-only)."""
    conn = sqlite3.connect(f"file:{root / '.pvc' / 'pvc.db'}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute(sql)}
    finally:
        conn.close()


def _prompt_versions(root: Path) -> set[str]:
    return _ids(root, "SELECT lower(hex(id)) FROM versions WHERE kind = 'prompt'")


def _indexed(root: Path) -> set[str]:
    return _ids(root, "SELECT lower(hex(id)) FROM versions "
                      "WHERE vrev IN (SELECT rowid FROM search_fts)")


def _tree_docs(root: Path) -> set[str]:
    return _ids(root, "SELECT lower(hex(v.id)) FROM versions v "
                      "JOIN search_tree_docs d ON d.vrev = v.vrev")


def _tree_versions(root: Path, rev: str) -> set[str]:
    from promptvc.repo import Repo

    r = Repo.open(root)
    try:
        return set(r.tree(r.resolve(rev)).values())
    finally:
        r.close()


def test_tree_index_follows_the_branches(repo, pvc):
    """The tree index holds the full text of every local branch's prompts, moved by
    differences; a tree of no branch is ranked on the spot."""
    _write_commit(pvc, {"a.md": "refund one\n", "b.md": "bee\n"}, "one")
    assert pvc("branch", "exp").exit_code == 0
    _write_commit(pvc, {"a.md": "refund two\n"}, "two")
    main, exp = _tree_versions(repo, "main"), _tree_versions(repo, "exp")
    assert main != exp and _tree_docs(repo) == main | exp  # kept current by the commit
    hits = json.loads(pvc("search", "refund", "--rev", "exp", "--json").stdout)["results"]
    assert [(h["path"], h["snippet"]) for h in hits] == [("a.md", "refund one")]
    assert pvc("branch", "-d", "exp").exit_code == 0
    hits = json.loads(pvc("search", "refund", "--json").stdout)["results"]
    assert [(h["path"], h["snippet"]) for h in hits] == [("a.md", "refund two")]
    assert _tree_docs(repo) == main  # the deleted branch's version left the index
    old = json.loads(pvc("search", "refund", "--rev", "HEAD~1", "--json").stdout)["results"]
    assert [(h["path"], h["snippet"]) for h in old] == [("a.md", "refund one")]
    assert _tree_docs(repo) == main  # ranked on the spot, not added
    assert pvc("fsck").exit_code == 0


@needs_git
def test_index_current_after_import_and_commit(imported, pvc):
    _, dst = imported
    versions = _prompt_versions(dst)
    assert _indexed(dst) == versions and len(versions) == 9
    _write_commit(pvc, {"prompts/format.md": "changed\n"}, "edit")
    assert _indexed(dst) == _prompt_versions(dst) and len(_indexed(dst)) == 10
    assert pvc("fsck").exit_code == 0


def test_fsck_finds_damage_and_reindex_repairs(repo, pvc):
    _write_commit(pvc, {"a.md": "alpha\n", "b.md": "beta\n"}, "one")
    db = repo / ".pvc" / "pvc.db"
    conn = sqlite3.connect(db)
    vrev, vid = conn.execute("SELECT vrev, lower(hex(id)) FROM versions WHERE path = 'a.md'"
                             ).fetchone()
    # a.md's document goes (a contentless document is deleted with its original values),
    # and one appears for a row that is no prompt version
    conn.execute("INSERT INTO search_fts (search_fts, rowid, path, content) "
                 "VALUES ('delete', ?, 'a.md', 'alpha\n')", (vrev,))
    conn.execute("INSERT INTO search_fts (rowid, path, content) VALUES (999, '', 'x')")
    conn.commit()
    conn.close()
    r = pvc("fsck")
    assert r.exit_code == 1
    assert "search #999: search index has a document for no prompt version (run `pvc " \
           "search --reindex`)" in r.output
    assert f"search {vid[:12]}: prompt version is missing from the search index (run `pvc " \
           "search --reindex`)" in r.output
    r = pvc("search", "--reindex")
    assert (r.exit_code, r.stdout) == (0, "indexed 2 versions (full-text only: no embedder)\n")
    assert pvc("fsck").exit_code == 0
    assert json.loads(pvc("search", "alpha", "--json").stdout)["results"][0]["path"] == "a.md"


def test_big_commit_defers_text_index_to_the_next_search(repo, pvc):
    big = "".join(f"line {i} of a very long prompt\n" for i in range(200_000))  # > 4 MiB
    _write_commit(pvc, {"big.md": big, "small.md": "tiny\n"}, "big")
    assert (_status(pvc)["documents"], _status(pvc)["pending"]) == (0, 2)
    res = json.loads(pvc("search", "tiny", "--json").stdout)
    assert [h["path"] for h in res["results"]] == ["small.md"]
    assert (_status(pvc)["documents"], _status(pvc)["pending"]) == (2, 0)


def test_index_failure_never_fails_a_commit(repo, pvc, monkeypatch):
    from promptvc.store.search_index import SearchIndex

    def broken(self, *args):
        raise RuntimeError("index bug")

    with monkeypatch.context() as m:
        m.setattr(SearchIndex, "add_change", broken)
        _write_commit(pvc, {"a.md": "alpha refund\n"}, "one")  # committed, text not indexed
    assert [c["message"] for c in json.loads(pvc("log", "--json").stdout)] == ["one"]
    assert (_status(pvc)["documents"], _status(pvc)["pending"]) == (0, 1)
    assert pvc("fsck").exit_code == 0  # behind is not damage
    assert json.loads(pvc("search", "refund", "--json").stdout)["results"][0]["path"] == "a.md"


def test_prompt_source_search(labelled, pvc):
    from promptvc.serve import PromptSource

    assert pvc("tag", "production").exit_code == 0
    with PromptSource.local(labelled) as src:
        hits = src.search("translate french", embedder=None)
        assert hits[0].path == "translate/french.md"
        hits = src.search("translate french", embedder=HashEmbedder())  # no vectors yet
        assert hits[0].path == "translate/french.md" and hits[0].vector_score is None
    from promptvc import search as S
    from promptvc.repo import Repo

    repo = Repo.open()
    try:
        S.index_vectors(repo, HashEmbedder())
    finally:
        repo.close()
    with PromptSource.local(labelled) as src:  # vectors scored without libSQL's functions
        hits = src.search("translate french", embedder=HashEmbedder())
        assert hits[0].path == "translate/french.md"
        assert hits[0].score == pytest.approx(0.3 * hits[0].text_score + 0.7 * hits[0].vector_score)


@pytest.mark.sqld
def test_index_current_after_fetch_and_clone(tmp_path, pvc, monkeypatch, sqld_namespace):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    monkeypatch.chdir(a)
    assert pvc("init").exit_code == 0
    assert pvc("remote", "add", "origin", sqld_namespace.url).exit_code == 0
    _write_commit(pvc, {"p.md": "refund policy one\n"}, "one")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert pvc("clone", sqld_namespace.url, "b").exit_code == 0
    assert _indexed(b) == _prompt_versions(b) and len(_indexed(b)) == 1
    monkeypatch.chdir(a)
    _write_commit(pvc, {"p.md": "refund policy two\n", "q.md": "other\n"}, "two")
    assert pvc("push").exit_code == 0
    monkeypatch.chdir(b)
    assert pvc("fetch").exit_code == 0
    assert _indexed(b) == _prompt_versions(b) and len(_indexed(b)) == 3
    res = json.loads(pvc("search", "refund", "--all-versions", "--json").stdout)
    assert sorted(h["snippet"] for h in res["results"]) == ["refund policy one", "refund policy two"]


@pytest.mark.sqld
def test_daemon_commits_are_indexed(tmp_path):
    root = tmp_path / "r"
    root.mkdir()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=root,
                              capture_output=True, text=True, timeout=60)

    cli("init")
    proc = subprocess.Popen([sys.executable, "-m", "promptvc", "daemon", "run", "--debounce", "0.2",
                             "--interval", "0.5"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        from tests.conftest import wait_for

        wait_for(lambda: (root / ".pvc" / "daemon.json").exists(), what="daemon start")
        (root / "p.md").write_text("autosaved refund text\n")
        wait_for(lambda: "autosave" in cli("log", "--oneline").stdout, what="autosave commit")
        (root / "p.md").write_text("autosaved refund text, again\n")
        wait_for(lambda: len(cli("log", "--oneline").stdout.splitlines()) == 2, what="2nd commit")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert _indexed(root) == _prompt_versions(root) and len(_indexed(root)) == 2


def test_search_module_not_loaded_by_other_commands():
    code = ("import sys\nfrom promptvc.cli.main import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('LOADED', ' '.join(m for m in ('promptvc.search', 'promptvc.grep', "
            "'promptvc.embedders', 'wordllama', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1].strip() == "LOADED"


def test_cosine_helpers():
    from promptvc.embedders import cosine_distance, pack, unpack

    v = unpack(pack([3.0, 4.0]))
    assert v == pytest.approx((0.6, 0.8))
    assert cosine_distance(v, (0.6, 0.8)) == pytest.approx(0.0, abs=1e-6)
    assert cosine_distance((1.0, 0.0), (0.0, 1.0)) == pytest.approx(1.0)
    assert math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-6)


def test_lookbehind_sees_one_line(repo, pvc):
    """A lookbehind (which -E lets through to Python's engine) sees one line, as each line
    is matched alone: a line in the middle of a prompt that starts with foo matches, though
    over the whole text a line break comes before it, so the whole-text quick check must
    not rule it out."""
    _write_commit(pvc, {"p.md": "intro\nmore\n"}, "first")
    _write_commit(pvc, {"p.md": "intro\nfoo bar\nmore\n"}, "adds foo bar")
    _write_commit(pvc, {"p.md": "intro\nfoo bar\nmore words\n"}, "other line")
    r = pvc("log", "--json", "-G", r"(?<!\s)foo")
    assert r.exit_code == 0, r.output
    assert [c["message"] for c in json.loads(r.stdout)] == ["adds foo bar"]
    r = pvc("grep", "-n", "-E", r"(?<!\s)foo")
    assert r.exit_code == 0, r.output
    assert r.stdout == "p.md:2:foo bar\n"
