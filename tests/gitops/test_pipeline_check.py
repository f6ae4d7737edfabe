import pytest

from mlops.gitops.pipeline_check import lock_mismatches

from e2e import copy_repository, run, set_params


def test_missing_outputs_are_not_a_mismatch():
    status = {
        "train": [
            {"changed outs": {"model/model.joblib": "deleted"}},
            {"changed deps": {"artifacts/train.csv": "deleted"}},
        ],
        "data.dvc": [{"changed outs": {"data": "not in cache"}}],
    }
    assert lock_mismatches(status, produced={"artifacts/train.csv", "model/model.joblib"}) == []
    # A deleted source file is a real change, not a missing output.
    status["train"].append({"changed deps": {"src/mlops/train.py": "deleted"}})
    assert lock_mismatches(status, produced={"artifacts/train.csv"}) == ["stage train: src/mlops/train.py deleted"]


def test_changed_code_params_and_command_are_named():
    status = {
        "train": [{"changed deps": {"params.yaml": {"model": "modified"}, "src/mlops/features.py": "modified"}}],
        "evaluate": [{"changed command": True}, "always changed"],
    }
    assert lock_mismatches(status) == [
        "stage evaluate: command changed, always changed",
        "stage train: params model modified, src/mlops/features.py modified",
    ]


@pytest.mark.slow
@pytest.mark.pipeline
def test_main_in_a_real_repository(tmp_path):
    repo = copy_repository(tmp_path / "repo", sample_data=False)
    run(repo, "dvc", "pull", "data.dvc")
    ok = run(repo, "python", "-m", "mlops.gitops.pipeline_check", measure=True)
    assert "dvc.lock matches" in ok.stderr
    # Any edit of the model section: `dvc status` compares values, it runs nothing.
    set_params(repo, lambda p: p["model"]["params"].update(an_edited_knob=1))
    stale = run(repo, "python", "-m", "mlops.gitops.pipeline_check", check=False, measure=True)
    assert stale.returncode == 1
    assert "dvc.lock does not match what the code and params reproduce" in stale.stderr
    assert "stage train: params model modified" in stale.stderr
    assert "Run `make pipeline` and commit the updated dvc.lock." in stale.stderr
