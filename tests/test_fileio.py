import pytest

from artextract.fileio import atomic_path, sha256_bytes, sha256_file, write_json_atomic


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{")
    assert '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_hashes_agree(tmp_path):
    p = tmp_path / "b.bin"
    p.write_bytes(b"abc" * 1000)
    assert sha256_file(p) == sha256_bytes(b"abc" * 1000)
