"""`pvc fsck --repair`: from the remote, the working folder, other chains, the reflog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptvc.repo import Repo


def commit_versions(pvc, root: Path, name: str, n: int) -> list[bytes]:
    out = []
    for i in range(1, n + 1):
        data = "".join(f"line {k} of {name}\n" for k in range(i * 15)).encode() + f"v{i}\n".encode()
        (root / name).write_bytes(data)
        pvc("add", name)
        assert pvc("commit", "-m", f"{name} v{i}").exit_code == 0
        out.append(data)
    return out


def damage(root: Path, vid: str) -> None:
    repo = Repo.open(root)
    row = repo.store.get_version_row(vid)
    data = bytearray(row.data)
    data[len(data) // 2] ^= 0x01
    repo.store.raw_update("versions", "data", "id", vid, bytes(data))
    repo.close()


def rows_of(root: Path, name: str):
    repo = Repo.open(root)
    try:
        return repo.store.versions_of_path(name)
    finally:
        repo.close()


def test_snapshot_restored_from_another_chain(repo, pvc):
    versions = commit_versions(pvc, repo, "p.md", 6)
    snap = [r for r in rows_of(repo, "p.md") if r.storage == "snapshot"][0]
    damage(repo, snap.id)
    assert pvc("fsck").exit_code == 1
    r = pvc("fsck", "--repair")
    assert r.exit_code == 0, r.output
    assert r.stdout == (f"restored p.md {snap.id[:12]} from another chain\n"
                        "repository is clean after repair\n")
    for i, data in enumerate(reversed(versions)):
        assert pvc("show", f"HEAD~{i}:p.md").stdout_bytes == data


def test_version_restored_from_working_folder(repo, pvc):
    commit_versions(pvc, repo, "a.md", 1)
    (repo / "b.md").write_text("only version\n")
    pvc("add", "b.md")
    pvc("commit", "-m", "b")
    row = rows_of(repo, "b.md")[0]
    damage(repo, row.id)
    r = pvc("fsck", "--repair", "--json")
    data = json.loads(r.stdout)
    assert data["ok"] is True
    assert data["restored"] == [{"object": row.id, "what": "b.md", "source": "the working folder"}]


def test_unrepairable_is_listed_exactly(repo, pvc):
    commit_versions(pvc, repo, "a.md", 1)
    (repo / "b.md").write_text("gone\n")
    pvc("add", "b.md")
    pvc("commit", "-m", "b")
    (repo / "b.md").write_text("edited since\n")
    row = rows_of(repo, "b.md")[0]
    damage(repo, row.id)
    r = pvc("fsck", "--repair")
    assert r.exit_code == 1
    assert r.stdout == (f"cannot restore: version {row.id[:12]} (b.md): content does not match "
                        "its SHA-256\n")
    assert r.stderr == ("1 problem remain\nhint: the objects listed above exist in no copy pvc "
                        "can reach; restore the repository from a backup or a clone\n")


def test_ref_and_change_index_restored(repo, pvc):
    commit_versions(pvc, repo, "a.md", 3)
    r = Repo.open(repo)
    head = r.head()
    first = r.resolve("HEAD~2")
    r.store.raw_update("refs", "target", "name", "refs/heads/main", first)
    r.store.raw_update("changes", "insertions", "commit_id", head, 999)  # not checked by fsck
    r.store.raw_update("changes", "path", "commit_id", head, "zzz.md")
    r.close()
    assert pvc("fsck").exit_code == 1
    res = pvc("fsck", "--repair")
    assert res.exit_code == 0, res.output
    assert f"restored change index {head[:12]} from the trees\n" in res.stdout
    assert f"restored ref refs/heads/main {head[:12]} from its reflog\n" in res.stdout
    r = Repo.open(repo)
    assert r.head() == head
    assert [c.path for c in r.changes(head)] == ["a.md"]
    r.close()


@pytest.mark.sqld
def test_restored_from_the_remote(tmp_path, pvc, monkeypatch, sqld_namespace):
    root = tmp_path / "a"
    root.mkdir()
    monkeypatch.chdir(root)
    pvc("init")
    versions = commit_versions(pvc, root, "p.md", 3)
    assert pvc("remote", "add", "origin", sqld_namespace.url).exit_code == 0
    assert pvc("push").exit_code == 0
    (root / "p.md").write_text("local edit, not committed\n")
    snap = [r for r in rows_of(root, "p.md") if r.storage == "snapshot"][0]
    damage(root, snap.id)
    repo = Repo.open(root)
    cid = repo.resolve("HEAD~1")
    repo.store.raw_update("commits", "message", "id", cid, "tampered")
    repo.close()
    r = pvc("fsck", "--repair")
    assert r.exit_code == 0, r.output
    assert f"restored p.md {snap.id[:12]} from the remote\n" in r.stdout
    assert f"restored commit {cid[:12]} from the remote\n" in r.stdout
    for i, data in enumerate(reversed(versions)):
        assert pvc("show", f"HEAD~{i}:p.md").stdout_bytes == data
    assert json.loads(pvc("show", "--json", "HEAD~1").stdout)["message"] == "p.md v2"


def test_repair_decides_on_problem_codes_not_wording(repo, pvc, monkeypatch):
    """Reworded fsck messages (a translation, a clearer phrase) change nothing."""
    import dataclasses

    import promptvc.fsck as fsck
    from promptvc.repair import repair

    commit_versions(pvc, repo, "p.md", 6)
    snap = [r for r in rows_of(repo, "p.md") if r.storage == "snapshot"][0]
    damage(repo, snap.id)
    r = Repo.open(repo)
    head = r.head()
    r.store.raw_update("changes", "path", "commit_id", head, "zzz.md")
    real_check = fsck.check

    def reworded(*args, **kw):
        report = real_check(*args, **kw)
        report.problems[:] = [dataclasses.replace(p, message=f"problem #{i}")
                              for i, p in enumerate(report.problems)]
        return report

    monkeypatch.setattr(fsck, "check", reworded)
    try:
        assert {p.code for p in fsck.check(r).problems} == {
            fsck.ProblemCode.VERSION_UNDECOMPRESSABLE, fsck.ProblemCode.DIFF_BASE_DAMAGED,
            fsck.ProblemCode.CHANGE_INDEX}
        rep = repair(r, sync=False)
    finally:
        r.close()
    assert rep.ok
    assert sorted(what for _, what, _ in rep.restored) == ["change index", "p.md"]
    monkeypatch.setattr(fsck, "check", real_check)
    assert pvc("fsck").exit_code == 0
