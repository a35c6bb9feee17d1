"""Encryption at rest, Unicode-normalisation name clashes, and the token-leak scan itself."""

from __future__ import annotations

import unicodedata

import pytest

from tests.conftest import find_leaks


def test_encryption_at_rest(repo_dir, pvc, monkeypatch):
    monkeypatch.setenv("PVC_ENCRYPTION_KEY", "correct horse battery staple")
    assert pvc("init").exit_code == 0
    marker = "PLAINTEXT-MARKER-this-prompt-is-secret"
    (repo_dir / "p.md").write_text(f"{marker}\n" * 50)
    pvc("add", "p.md")
    assert pvc("commit", "-m", "secret prompt").exit_code == 0
    assert pvc("show", "HEAD:p.md").stdout == f"{marker}\n" * 50
    assert pvc("fsck").exit_code == 0
    for f in (repo_dir / ".pvc").iterdir():
        assert marker.encode() not in f.read_bytes(), f
        assert b"secret prompt" not in f.read_bytes(), f
    monkeypatch.delenv("PVC_ENCRYPTION_KEY")
    r = pvc("log")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: the pvc database {repo_dir / '.pvc' / 'pvc.db'} is not "
                               "a SQLite database")
    assert r.stderr.endswith("hint: if it is encrypted, set PVC_ENCRYPTION_KEY; otherwise "
                             "rebuild it from the remote with `pvc fsck --repair` (the damaged "
                             "file is kept aside, working files are not touched), or clone the "
                             "repository again\n")
    monkeypatch.setenv("PVC_ENCRYPTION_KEY", "wrong key")
    assert pvc("log").exit_code == 1


def test_nfc_nfd_names_refused(repo, pvc):
    nfc = unicodedata.normalize("NFC", "café.md")
    nfd = unicodedata.normalize("NFD", "café.md")
    assert nfc != nfd
    (repo / nfc).write_text("one\n")
    assert pvc("add", nfc).exit_code == 0
    pvc("commit", "-m", "nfc")
    (repo / nfd).write_text("two\n")
    r = pvc("add", nfd)
    assert r.exit_code == 1
    assert r.stderr == (f"error: cannot add '{nfd}': tracked '{nfc}' has the same name in another "
                        "Unicode normalization (NFC/NFD)\nhint: rename one of the two files\n")
    assert pvc("status", "-s", "--no-untracked").stdout == ""


def test_leak_scan_finds_a_token(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "daemon.log").write_text("sync with token canary-xyz ok\n")
    (tmp_path / "a" / "clean.log").write_text("nothing here\n")
    (tmp_path / "credentials").write_text("[host]\ntoken = canary-xyz\n")  # allowed there
    assert find_leaks(tmp_path, {"canary-xyz"}) == [str(tmp_path / "a" / "daemon.log")]
