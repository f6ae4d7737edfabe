import subprocess

from mlops.provenance import git_commit, library_versions


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_git_commit_and_dirty_flag(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("a")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(str(tmp_path)) == head
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(str(tmp_path)) == f"{head}-dirty"


def test_git_commit_outside_a_repository(tmp_path):
    assert git_commit(str(tmp_path)) == "unknown"


def test_library_versions_name_the_runtime():
    import sklearn

    assert library_versions()["scikit-learn"] == sklearn.__version__
