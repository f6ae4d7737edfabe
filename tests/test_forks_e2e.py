"""Forks, end to end: another dataset, model and task in a copy of this repository, with nothing
under src/ or tests/ edited. The real `dvc repro`, the PR report against the fork's main, and
the API under gunicorn, for a numeric-only regression (no stratification, no engineered
features), a multiclass classifier with text labels and a categorical column with missing values,
and a binary classifier with whole-number labels.

Each pipeline run costs about 15 s, whatever the data (imports, MLflow): so one fork's PR swaps in
a trivial model, which its gate must fail, and the others' PRs change no model input (a README
edit, nothing to reproduce), which their gates must pass."""

import json
import urllib.request

import pytest

from mlops.metrics import names
from mlops.prepare import read_frame

from e2e import git, make_fork, report_in_process, run, set_params
from servers import gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def post(url: str, payload: object) -> dict:
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str, path: str) -> str:
    with urllib.request.urlopen(f"{url}{path}", timeout=30) as response:
        return response.read().decode()


def check_fork(tmp_path, monkeypatch, capsys, scenario: str, *, trivial_pr: bool) -> None:
    repo, config = make_fork(tmp_path, scenario)
    task = config.data.task

    # The pipeline: the task's metrics, the model's metadata, and nothing left for git.
    document = json.loads((repo / config.paths.metrics).read_text())
    metrics = {name: value for name, value in document.items() if name not in ("baselines", "slices")}
    assert set(metrics) <= set(names(task))
    assert config.gate.metric in metrics
    assert config.gate.metric in document["baselines"]["trivial"]
    assert config.data.target in document["slices"]
    metadata = json.loads((repo / config.paths.metadata).read_text())
    assert metadata["task"] == task
    assert [spec["name"] for spec in metadata["schema"]["features"]] == list(config.data.features)
    assert git(repo, "status", "--porcelain") == ""
    run(repo, "yamllint", "params.yaml")  # make lint's rules accept a params.yaml a script wrote

    # The PR report against the fork's main, for a PR that swaps in a trivial model or one that
    # changes no model input.
    git(repo, "checkout", "-q", "-b", "pr")
    trivial = "DummyClassifier" if config.data.is_classification else "DummyRegressor"
    if trivial_pr:
        set_params(repo, lambda p: p.update(model={"family": trivial, "params": {}}))
        run(repo, "dvc", "repro")
    else:
        with (repo / "README.md").open("a") as readme:
            readme.write("\nA fork's own words.\n")
    git(repo, "commit", "-qam", "a trivial model" if trivial_pr else "docs")
    code, text, _ = report_in_process(repo, monkeypatch, capsys)
    assert "Base results unavailable" not in text
    assert "paired bootstrap: 1,000 resamples of the same" in text
    for name in metrics:
        assert f"| {name} |" in text
    assert "### Model vs baselines" in text
    assert f"| `{config.data.target}` = " in text  # a slice of the target
    gate = json.loads((repo / "ci-report" / "gate.json").read_text())
    assert code == (0 if gate["passed"] else 1)
    if trivial_pr:
        assert f"| `model.family` | `{config.model.family}` | `{trivial}` |" in text
        assert not gate["passed"], "a trivial model must fail the fork's own gate"
        assert any(config.gate.metric in reason for reason in gate["reasons"])
    else:
        assert "- model version: unchanged" in text
        assert gate["passed"], f"the fork's model must pass its own gate: {gate['reasons']}"

    # The API under gunicorn, serving the fork's model (back on main).
    git(repo, "checkout", "-q", "main")
    run(repo, "dvc", "checkout", "--quiet")
    test_rows = json.loads(
        read_frame(repo / config.paths.test, config.data).head(3)[list(config.data.features)].to_json(orient="records")
    )
    with gunicorn(repo) as (url, _):
        assert json.loads(get(url, "/ready"))["status"] == "ready"
        one = post(url, test_rows[0])
        batch = post(url, {"records": test_rows})
        spec = json.loads(get(url, "/openapi.json"))
        exposition = get(url, "/metrics")
        served = json.loads(get(url, "/metadata"))
    assert served["task"] == task
    assert len(batch["predictions"]) == 3
    assert batch["predictions"][0] == one["prediction"]
    prediction_schema = spec["components"]["schemas"]["Prediction"]["properties"]
    if config.data.is_classification:
        classes = metadata["target"]["classes"]
        assert one["prediction"] in classes
        assert set(one["probabilities"]) == {str(label) for label in classes}
        assert sum(one["probabilities"].values()) == pytest.approx(1.0)
        assert prediction_schema["prediction"]["enum"] == classes
        assert f'model_predictions_by_label_total{{label="{one["prediction"]}"}}' in exposition
    else:
        assert isinstance(one["prediction"], float)
        assert "probabilities" not in one
        assert prediction_schema["prediction"]["type"] == "number"
        assert "model_prediction_value_bucket" in exposition


class TestNumericRegression:
    def test_pipeline_report_and_api(self, tmp_path, monkeypatch, capsys):
        check_fork(tmp_path, monkeypatch, capsys, "regression-numeric", trivial_pr=False)


class TestMulticlassWithTextLabels:
    def test_pipeline_report_and_api(self, tmp_path, monkeypatch, capsys):
        check_fork(tmp_path, monkeypatch, capsys, "multiclass", trivial_pr=True)


class TestBinaryWithWholeNumberLabels:
    def test_pipeline_report_and_api(self, tmp_path, monkeypatch, capsys):
        check_fork(tmp_path, monkeypatch, capsys, "binary", trivial_pr=False)
