"""The search index (kept current) and ranked search: full-text BM25 fused with vectors.

Indexing is incremental: every prompt version stored since the last run (versions are
append-only rows; a mark remembers the last one indexed) gets one document in the history
index, made of the lines it added to its parent version, so the index grows with the
edits and not with the length of the prompts times the number of versions. Text indexing
is cheap and runs right after a commit, an import or a fetch; vectors need an embedder,
which may be slow or down, so they are computed later (by `pvc search`, by the daemon, or
by `pvc search --reindex`) and never inside a commit.

Searching a tree (HEAD, or --rev) ranks the full text of that tree's versions in the tree
index, which holds the versions of every local branch's tree and is moved by differences
when a branch moves (after a commit: one document out, one in); a tree of no branch is
ranked on the spot in a TEMP table. `--all-versions` ranks the history index: a passage is
found at the versions that brought it in, not once per later version that kept it.

Ranking: the text score is BM25 normalised to the best hit (1.0), the vector score is the
cosine similarity (clamped to 0..1); the fused score is ``text_weight * text +
vector_weight * vector`` (defaults 0.3 / 0.7, ``search.text_weight`` /
``search.vector_weight``). Without an embedder the score is the text score alone.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .errors import SearchError

Progress = Callable[[int, int], None]
BATCH = 500
VECTOR_BATCH = 256
HL_START, HL_END = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


# -- indexing ---------------------------------------------------------------------------------
def index_text(repo, progress: Progress | None = None, budget_s: float | None = None,
               max_bytes: int | None = None) -> int:
    """Index the text of every prompt version stored since the last run; returns how many.
    BUDGET_S stops early, and MAX_BYTES skips the run when more text than that is waiting
    (the rest is indexed next time: by a search, a grep --all-versions or a pickaxe)."""
    store = repo.store
    if store.readonly:
        return 0
    ix = store.search_index()
    if not ix.pending_versions(ix.text_mark(), 1):
        return 0  # nothing new: no write transaction
    if max_bytes is not None and ix.pending_size(ix.text_mark()) > max_bytes:
        return 0
    started = time.monotonic()
    total = ix.count_pending(ix.text_mark()) if progress else 0
    done = 0
    # the new versions streamed in stored order: one diff apply each, no chain rebuilds;
    # each is indexed by the lines it added (and by its path when it starts one)
    stream = repo.versions.stream_changes("prompt", after=ix.text_mark())
    while True:
        with store.transaction():
            n, last, exhausted = 0, None, True
            for item in stream:
                row = item.row
                ix.add_change(row.vrev, (row.path or "") if item.new_path else "",
                              _text(item.added))
                n, last = n + 1, row.vrev
                if n >= BATCH:
                    exhausted = False
                    break
            ix.set_text_mark(ix.last_version_mark() if exhausted else last)
        done += n
        if progress and total:
            progress(min(done, total), total)
        if exhausted:
            return done
        if budget_s is not None and time.monotonic() - started > budget_s:
            stream.close()
            return done


SYNC_MAX_BYTES = 4 * 2**20  # a commit indexes at most this much text on the spot


def after_write(repo, budget_s: float | None = 2.0, max_bytes: int | None = SYNC_MAX_BYTES) -> None:
    """Called by a commit (inside its transaction: one fsync for both), an import or a
    fetch: index the new versions' text; never raises, so a write never fails because of
    its derived index."""
    store = repo.store

    def catch_up():
        index_text(repo, budget_s=budget_s, max_bytes=max_bytes)
        sync_trees(repo, max_bytes=max_bytes)

    if not store.in_transaction:
        try:
            catch_up()
        except Exception:  # noqa: BLE001 - derived data: `pvc search` catches up later
            pass
        return
    store.savepoint("search_index")
    try:
        catch_up()
    except Exception:
        if store.rollback_to_savepoint("search_index"):
            return  # the commit goes on without its text; the next search catches up
        raise  # the transaction itself is gone (e.g. a full disk): the commit must fail
    store.release_savepoint("search_index")


def index_vectors(repo, embedder, progress: Progress | None = None,
                  budget_s: float | None = None) -> int:
    """Embed every prompt version that has no vector for EMBEDDER's model yet (vectors
    are cached by content hash: a version is embedded once). The embedder runs outside any
    transaction, so a slow one never holds the write lock."""
    store = repo.store
    if store.readonly:
        return 0
    ix = store.search_index()
    space = _space(repo, ix, embedder)
    total = ix.count_without_vectors(space) if progress else 0
    started = time.monotonic()
    done = 0
    while True:
        rows = ix.versions_without_vectors(space, VECTOR_BATCH)
        if not rows:
            return done
        vids = [vid for _, vid in rows]
        blobs = embedder.embed([_text(repo.versions.get(vid)) for vid in vids])
        with store.transaction():
            ix.add_vectors(space, list(zip(vids, blobs)))
            ix.set_vector_mark(space, rows[-1][0])
        done += len(rows)
        if progress and total:
            progress(min(done, total), total)
        if budget_s is not None and time.monotonic() - started > budget_s:
            return done


def _space(repo, ix, embedder) -> int:
    found = ix.space(embedder.model)
    if found:
        return found[0]
    from .clock import now_iso

    dim = len(embedder.embed(["dimension probe"])[0]) // 4
    with repo.store.transaction():
        return ix.create_space(embedder.model, dim, now_iso())


def reindex(repo, embedder=None, progress: Progress | None = None) -> dict:
    """Rebuild the text index from the versions; with EMBEDDER, drop the vectors of other
    models and embed what lacks a vector (kept vectors are reused)."""
    store = repo.store
    ix = store.search_index()
    with store.transaction():
        ix.clear_text()
    texts = index_text(repo, progress)
    dropped = 0
    if embedder is not None:  # without one (none configured, --text-only) vectors stay
        with store.transaction():
            for space, model, _dim in ix.spaces():
                if model != embedder.model:
                    ix.drop_space(space)
                    dropped += 1
    vectors = index_vectors(repo, embedder, progress) if embedder is not None else 0
    return {"documents": texts, "vectors": vectors, "dropped_models": dropped}


def status(repo, embedder_model: str | None) -> dict:
    ix = repo.store.search_index()
    out = {"documents": ix.doc_count(), "pending": ix.count_pending(ix.text_mark()),
           "models": []}
    for space, model, dim in ix.spaces():
        out["models"].append({"model": model, "dim": dim, "vectors": ix.vector_count(space),
                              "current": model == embedder_model})
    return out


def check(repo) -> list[tuple[str, str, str]]:
    """(object, path, message) for each inconsistency between the index and the versions
    (used by fsck). An index that is only behind is not a problem."""
    ix = repo.store.search_index()
    if not ix.exists():
        return [("search index", "", "the search tables are missing")]
    fix = "(run `pvc search --reindex`)"
    problems = []
    mark = ix.text_mark()
    for vid in ix.unindexed_versions(mark):
        problems.append((vid, "", f"prompt version is missing from the search index {fix}"))
    for doc in ix.orphan_docs():
        problems.append((doc, "", f"search index has a document for no prompt version {fix}"))
    expected = ix.indexed_version_count(mark)
    if ix.doc_count() != expected:
        problems.append(("search_fts", "", f"full-text index has {ix.doc_count()} documents "
                                           f"for {expected} versions {fix}"))
    recorded, held = ix.tree_counts()
    if recorded != held:
        problems.append(("search_tree_fts", "", f"tree index has {held} documents for "
                                                f"{recorded} recorded {fix}"))
    for space, model, _dim in ix.spaces():
        for vid in ix.orphan_vectors(space):
            problems.append((vid, "", f"vector ({model}) for a version that is not stored {fix}"))
    return problems


def sync_trees(repo, max_bytes: int | None = None) -> bool:
    """Bring the tree index to the trees of the local branches: documents of versions in
    none of them go, new ones come (after a commit, one of each); nothing is read when no
    branch moved to another tree since the last time. False when the database is
    read-only or more than MAX_BYTES of text would be indexed (a search of a tree the index
    does not cover ranks it in a TEMP table; the next `pvc search` catches up)."""
    store = repo.store
    ix = store.search_index()
    trees = sorted({repo.commit_row(cid).tree_id for _, cid in repo.branches()})
    key = hashlib.sha256(" ".join(trees).encode()).hexdigest()
    if ix.tree_mark() == key:
        return True
    if store.readonly:
        return False
    scope: dict[str, str] = {}  # version -> the first path it has in the first tree
    for tree in trees:
        for path, vid in sorted(repo.tree_of(tree).items()):
            scope.setdefault(vid, path)
    with store.transaction():
        held = ix.tree_docs()
        gone = [(vrev, path, vid) for vid, (vrev, path) in held.items() if vid not in scope]
        new = ix.vrevs([vid for vid in scope if vid not in held])
        if max_bytes is not None and ix.size_of(list(new.values())) > max_bytes:
            return False
        try:
            for vrev, path, vid in gone:
                ix.remove_tree_doc(vrev, path, _text(repo.versions.get(vid)))
        except Exception:  # noqa: BLE001 - a text it cannot give back: start the index over
            ix.clear_tree()
            new = ix.vrevs(list(scope))
        for vid, vrev in sorted(new.items(), key=lambda kv: kv[1]):
            ix.add_tree_doc(vrev, scope[vid], _stored_text(repo.versions.get, vid))
        ix.set_tree_mark(key)
    return True


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _stored_text(text_of, vid: str) -> str:
    try:
        return _text(text_of(vid))
    except Exception:  # noqa: BLE001 - a damaged version is fsck's own finding
        return ""


# -- ranking ------------------------------------------------------------------------------------
@dataclass
class Hit:
    version: str
    path: str
    score: float
    text_score: float | None = None
    vector_score: float | None = None
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    commit: str | None = None
    commits: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"path": self.path, "version": self.version, "commit": self.commit,
                "commits": self.commits, "score": round(self.score, 6),
                "text_score": None if self.text_score is None else round(self.text_score, 6),
                "vector_score": None if self.vector_score is None else round(self.vector_score, 6),
                "snippet": self.snippet, "highlights": [list(h) for h in self.highlights]}


@dataclass
class Results:
    mode: str  # hybrid | text
    note: str | None
    hits: list[Hit]
    weights: dict[str, float]

    def to_json(self) -> dict:
        return {"mode": self.mode, "note": self.note, "weights": self.weights,
                "results": [h.to_json() for h in self.hits]}


STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were will with you your".split())


def fts_query(text: str, max_terms: int = 64) -> str | None:
    """An FTS5 query matching any word of TEXT (each quoted: no query syntax leaks in);
    common English words are left out when the query has others."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    kept = [w for w in words if w not in STOPWORDS]
    words = (kept or words)[:max_terms]
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def like_terms(text: str, n: int = 24) -> str:
    """The most frequent longer words of a document: the text half of `--like`."""
    counts = Counter(w.lower() for w in _WORD.findall(text) if len(w) >= 4 and not w.isdigit())
    return " ".join(w for w, _ in counts.most_common(n))


def rank(ix, query_text: str, scope: dict[str, str] | None, *, k: int, text_of,
         embedder=None, query_vector: bytes | None = None, text_weight: float = 0.3,
         vector_weight: float = 0.7, exclude_paths: Sequence[str] = ()
         ) -> tuple[list[Hit], str | None]:
    """Best K hits among the versions SCOPE (version -> path) of a tree, or among every
    version (None: ranked by what each version changed). TEXT_OF(version id) gives a
    version's content (bytes), for the hits' snippets and for a scope the tree index does
    not cover. Returns the hits and a note when vectors could not be used."""
    note = None
    pool = max(50, k * 5)
    match = fts_query(query_text)
    text: dict[str, float] = {}
    paths: dict[str, str] = {}
    if match:
        try:
            if scope is None:
                rows = ix.fts_top(match, pool)
            else:
                vrevs = ix.vrevs(list(scope))
                if len(vrevs) == len(scope) and ix.tree_covers(list(vrevs.values())):
                    rows = ix.tree_fts_top(match, pool, list(vrevs.values()))
                else:  # a tree that is no branch's (or not yet indexed): rank it on the spot
                    rows = ix.temp_fts_top(match, pool, {
                        vid: (path, _stored_text(text_of, vid)) for vid, path in scope.items()})
        except Exception as exc:  # noqa: BLE001 - e.g. an FTS syntax error
            raise SearchError(f"the full-text query failed: {exc}",
                              hint="simplify the query", stage="text") from None
        best = min((r for _, _, r in rows), default=0.0)
        for vid, path, r in rows:
            text[vid] = (r / best) if best else 1.0
            paths[vid] = path or ""
    vec: dict[str, float] = {}
    space = None
    if embedder is not None:
        found = ix.space(embedder.model)
        if found is None:
            note = "no vectors for this embedder yet; full-text only"
        else:
            space = found[0]
            if query_vector is None:
                query_vector = embedder.embed([query_text])[0]
            vec = _vector_scores(ix, space, query_vector, scope, pool, list(text))
    hybrid = space is not None
    scores: dict[str, tuple[float, float, float | None]] = {}
    for vid in set(text) | set(vec):
        t, v = text.get(vid, 0.0), vec.get(vid)
        if hybrid:
            total = text_weight * t + vector_weight * (v or 0.0)
            scores[vid] = (total, t, v if v is not None else 0.0)
        else:
            scores[vid] = (t, t, None)
    excluded = set(exclude_paths)
    hits = []
    for vid, (total, t, v) in scores.items():
        path = scope.get(vid, "") if scope is not None else paths.get(vid, "")
        if path in excluded:
            continue
        hits.append(Hit(vid, path, total, t, v))
    hits.sort(key=lambda h: (-h.score, h.path, h.version))
    hits = hits[:k]
    contents = {h.version: _stored_text(text_of, h.version) for h in hits}
    marked = ix.snippets(match, {h.version: contents[h.version] for h in hits if h.text_score},
                         HL_START, HL_END) if match and hits else {}
    for h in hits:
        _snippet(h, marked.get(h.version), contents[h.version])
    return hits, (note if embedder is not None else None)


def _vector_scores(ix, space: int, q: bytes, scope, pool: int, extra: list[str]) -> dict[str, float]:
    def sim(dist: float) -> float:
        if dist != dist:  # NaN: an empty text's zero vector is like nothing
            return 0.0
        return max(0.0, min(1.0, 1.0 - dist))

    if not ix.has_vector_functions:  # read-only stdlib connection: exact scan in Python
        from .embedders import cosine_distance, unpack

        qv = unpack(q)
        rows = ix.raw_vectors(space, None if scope is None else list(scope))
        dists = sorted(((cosine_distance(qv, unpack(b)), vid) for vid, b in rows))
        out = {vid: sim(d) for d, vid in dists[:pool]}
        want = set(extra) - set(out)
        out.update({vid: sim(d) for d, vid in dists if vid in want})
        return out
    if scope is None:
        out = {vid: sim(d) for vid, d in ix.vector_top(space, q, pool)}
        missing = [v for v in extra if v not in out]
        if missing:
            out.update({vid: sim(d) for vid, d in ix.vector_distances(space, q, missing).items()})
        return out
    dists = ix.vector_distances(space, q, list(scope))
    best = sorted(dists.items(), key=lambda kv: kv[1])[:pool]
    out = {vid: sim(d) for vid, d in best}
    out.update({vid: sim(dists[vid]) for vid in extra if vid in dists})
    return out


def _snippet(hit: Hit, raw: str | None, content: str) -> None:
    if not raw:
        first = " ".join(line.strip() for line in content.splitlines() if line.strip())
        raw = first[:120] + ("…" if len(first) > 120 else "")
    raw = " ".join(raw.split())
    plain, spans, pos, start = [], [], 0, None
    for ch in raw:
        if ch == HL_START:
            start = pos
        elif ch == HL_END:
            if start is not None:
                spans.append((start, pos))
            start = None
        else:
            plain.append(ch)
            pos += 1
    hit.snippet = "".join(plain)
    hit.highlights = spans


def weights(config) -> tuple[float, float]:
    tw = config.get_float("search", "text_weight", 0.3)
    vw = config.get_float("search", "vector_weight", 0.7)
    if tw < 0 or vw < 0 or tw + vw == 0:
        from .errors import ConfigError

        raise ConfigError(f"search weights {tw} / {vw} are not usable",
                          hint="set search.text_weight and search.vector_weight to numbers >= 0, "
                               "not both 0")
    return tw, vw


# -- the repository-level entry point --------------------------------------------------------------
def search(repo, query: str, *, rev: str | None = None, all_versions: bool = False, k: int = 10,
           like: str | None = None, embedder=None, text_only: bool = False,
           progress: Progress | None = None, cwd=None, catch_up: bool = True) -> Results:
    """Ranked hits for QUERY (or for prompts like the file LIKE) in the tree of REV (default
    HEAD) or among every stored version. CATCH_UP first indexes what is new."""
    tw, vw = weights(repo.config)
    if catch_up:
        index_text(repo, progress)
        sync_trees(repo)
    note = None
    if text_only:
        embedder = None
        note = "full-text only (--text-only)"
    elif embedder is None:
        note = "no embedder configured: full-text only (set `pvc config search.embedder wordllama`)"
    else:
        try:
            if catch_up:
                index_vectors(repo, embedder, progress)
        except SearchError as exc:
            note = f"embedder unavailable, full-text only: {exc.message}"
            embedder = None
    exclude: list[str] = []
    query_vector = None
    if like is not None:
        rel = repo.rel(like, cwd)
        path = repo.abspath(rel)
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
        else:
            data = repo.read("HEAD", rel)
        content = _text(data)
        query = like_terms(content)
        exclude = [rel]
        if embedder is not None:
            try:
                query_vector = embedder.embed([content])[0]
            except SearchError as exc:
                note = f"embedder unavailable, full-text only: {exc.message}"
                embedder = None
    ix = repo.store.search_index()
    cid = None
    scope: dict[str, str] | None = None
    if not all_versions:
        cid = repo.resolve(rev or "HEAD")
        scope = {}
        for path, vid in sorted(repo.tree(cid).items()):
            scope.setdefault(vid, path)
    try:
        hits, rank_note = rank(ix, query, scope, k=k, text_of=repo.versions.get,
                               embedder=embedder, query_vector=query_vector,
                               text_weight=tw, vector_weight=vw, exclude_paths=exclude)
    except SearchError as exc:
        if embedder is None or exc.fields.get("stage") == "text":
            raise
        hits, rank_note = rank(ix, query, scope, k=k, text_of=repo.versions.get,
                               exclude_paths=exclude)
        note = f"embedder unavailable, full-text only: {exc.message}"
        embedder = None
    note = rank_note or note
    if cid is not None:
        for h in hits:
            h.commit, h.commits = cid, [cid]
    else:
        intro = ix.introducing_commits([h.version for h in hits])
        for h in hits:
            pairs = intro.get(h.version, [])
            h.commits = [c for c, _ in pairs]
            h.commit = pairs[0][0] if pairs else None
            if pairs and not h.path:
                h.path = pairs[0][1]
    mode = "hybrid" if embedder is not None and rank_note is None else "text"
    return Results(mode, note, hits, {"text": tw, "vector": vw})
