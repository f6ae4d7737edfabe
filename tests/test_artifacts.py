import hashlib
import json

import pytest

from mlops import artifacts


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out" / "file.txt"
    artifacts.write_text(target, "first")

    def crash_midway():
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_write_json_refuses_nan_and_leaves_nothing(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(ValueError, match="not JSON compliant"):
        artifacts.write_json(target, {"rmse": float("nan")})
    assert list(tmp_path.iterdir()) == []
    artifacts.write_json(target, {"rmse": 1.5})
    assert json.loads(target.read_text()) == {"rmse": 1.5}


def test_sha256_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert artifacts.sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
