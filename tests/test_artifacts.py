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


REPORT = ("report.md", "*.png")


def test_atomic_dir_replaces_the_whole_directory(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "report.md").write_text("old")
    (target / "left-over.png").write_bytes(b"old figure")
    with artifacts.atomic_dir(target, ours=REPORT) as scratch:
        assert not target.joinpath("new.png").exists()  # written elsewhere until the block ends
        (scratch / "report.md").write_text("new")
        (scratch / "new.png").write_bytes(b"figure")
    assert sorted(p.name for p in target.iterdir()) == ["new.png", "report.md"]
    assert (target / "report.md").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no scratch or old copy left


def test_atomic_dir_keeps_the_old_directory_on_failure(tmp_path):
    target = tmp_path / "report"
    artifacts.write_text(target / "report.md", "old")

    def crash_midway():
        with artifacts.atomic_dir(target, ours=REPORT) as scratch:
            (scratch / "report.md").write_text("half")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert (target / "report.md").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


@pytest.mark.parametrize("foreign", ["notes.txt", "subdir/"])
def test_atomic_dir_will_not_replace_what_it_did_not_write(tmp_path, foreign):
    target = tmp_path / "somewhere"
    name = foreign.rstrip("/")
    if foreign.endswith("/"):
        (target / name).mkdir(parents=True)
    else:
        artifacts.write_text(target / name, "mine")
    artifacts.write_text(target / "report.md", "a report beside it")
    with pytest.raises(artifacts.NotOursError, match=f"will not replace it.*{name}"):
        artifacts.atomic_dir(target, ours=REPORT).__enter__()
    assert (target / name).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["somewhere"]
