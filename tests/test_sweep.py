"""Sweeps: the grid, its validation and the ranking; then the real `dvc exp run` in a copy of the repository."""

import json
import re
from types import SimpleNamespace

import pytest
import yaml
from dvc.utils.hydra import to_hydra_overrides
from mlflow import MlflowClient

from mlops import sweep
from mlops.config import ConfigError, parse_config
from mlops.metrics import HIGHER_IS_BETTER

from conftest import ROOT, params_in, write_params
from e2e import git, make_fork, run


def test_assignments_become_typed_grid_axes():
    grid = sweep.parse_assignments(["model.params.learning_rate=0.05,1e-3 model.params.max_iter=100,200", "a.b=true,x"])
    assert grid == {
        "model.params.learning_rate": [0.05, 0.001],
        "model.params.max_iter": [100, 200],
        "a.b": [True, "x"],
    }
    assert type(grid["model.params.max_iter"][0]) is int
    assert sweep.parse_assignments(["", "  "]) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model.params.learning_rate", "expected <dotted.params.key>=<value>"),
        ("=1,2", "expected <dotted.params.key>=<value>"),
        ("a.b=", "expected <dotted.params.key>=<value>"),
        ("a.b=1,,2", "expected <dotted.params.key>=<value>"),
        ("a.b=1 a.b=2", "a.b is given twice"),
    ],
)
def test_malformed_assignments_are_named(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        sweep.parse_assignments([text])


def test_the_grid_is_every_combination():
    points = sweep.expand({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(points) == 6
    assert {tuple(point.items()) for point in points} == {(("a", a), ("b", b)) for a in (1, 2, 3) for b in ("x", "y")}
    assert points[:2] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]  # the first key varies slowest


@pytest.mark.parametrize(
    "value", [0.05, 1e-05, 3, -2, True, False, None, "sqrt", "1", "true", "a,b", "it's", float("inf")]
)
def test_values_survive_hydra_as_dvc_parses_them(value):
    """What `dvc exp run -S` writes into params.yaml is the value of the grid, type included."""
    (override,) = to_hydra_overrides([f"x={sweep.hydra_value(value)}"])
    parsed = override.value()
    assert (parsed, type(parsed)) == (value, type(value))


# The grid tests sweep a known model (forks.py's regression: HistGradientBoostingRegressor), not
# this repository's, whose hyperparameters a fork chooses.
SCENARIO = "regression"


def test_a_grid_point_is_checked_like_params_yaml(tmp_path):
    raw = params_in(tmp_path, SCENARIO)
    overrides = sweep.check_point(raw, {"model.params.learning_rate": 0.3, "split.seed": 7}, tmp_path / "p.yaml")
    assert overrides == ["model.params.learning_rate=0.3", "split.seed=7"]
    # A hyperparameter params.yaml does not set yet is added with Hydra's `+`.
    family = raw["model"]["family"]
    assert sweep.check_point(raw, {"model.params.verbose": 0}, tmp_path / "p.yaml") == ["+model.params.verbose=0"]
    assert "verbose" not in raw["model"]["params"], f"{family}: the caller's params must stay as they were"


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (
            {"model.params.learning_rate": -1.0},
            "grid point model.params.learning_rate=-1.0: model.params.learning_rate",
        ),
        ({"model.params.no_such_knob": 1}, "has no parameter(s) no_such_knob"),
        ({"split.test_size": 2}, "split.test_size"),
        ({"split.sed": 1}, "split.sed"),  # a typo: the config forbids unknown keys
        ({"modl.params.x": 1}, "modl.params.x: params.yaml has no mapping modl"),
        ({"split.seed.x": 1}, "split.seed.x: params.yaml has no mapping split.seed"),
    ],
)
def test_an_invalid_grid_point_is_named(tmp_path, point, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        sweep.check_point(params_in(tmp_path, SCENARIO), point, tmp_path / "p.yaml")


def test_nothing_runs_when_a_grid_point_is_invalid(workdir, capsys):
    params_file = write_params(workdir, params_in(workdir, SCENARIO))
    code = sweep.main(["--params", str(params_file), "--set", "model.params.learning_rate=0.1,-1"])
    assert code == 1
    assert "grid point model.params.learning_rate=-1" in capsys.readouterr().err
    assert not (params_file.parent / ".dvc").exists()


def test_no_grid_is_a_clear_error(workdir, capsys):
    params = params_in(workdir)
    params.pop("sweep", None)
    assert sweep.main(["--params", str(write_params(workdir, params))]) == 1
    assert "no grid; add a `sweep` section to params.yaml or pass --set" in capsys.readouterr().err


def test_the_sweep_section_is_validated(tmp_path):
    assert parse_config(params_in(tmp_path, sweep={"model.params.max_iter": [10, 20]})).sweep == {
        "model.params.max_iter": [10, 20]
    }
    for bad in ({"model.params.max_iter": []}, {"model.params.max_iter": 10}, ["model.params.max_iter"]):
        with pytest.raises(ConfigError, match="sweep"):
            parse_config(params_in(tmp_path, sweep=bad))


@pytest.mark.parametrize("scenario", [None, "multiclass"])
def test_the_gated_metric_and_its_direction(tmp_path, scenario):
    config = parse_config(params_in(tmp_path, scenario))
    name = config.gate.metric
    assert sweep.gated_metric(config) == (name, HIGHER_IS_BETTER[name])
    higher = next(name for name, better in HIGHER_IS_BETTER.items() if better)
    assert sweep.gated_metric(SimpleNamespace(gate=SimpleNamespace(metric=higher))) == (higher, True)


def entry(rev, name, value, params, error=None):
    """One row of `dvc exp show --json`, in DVC 3's shape."""
    metrics = {"model/metrics.json": {"data": {"rmse": value, "r2": 0.5}}} if value is not None else {}
    data = {"rev": rev, "metrics": metrics, "params": {"params.yaml": {"data": params}}}
    return {"rev": rev, "name": name, "data": data, "error": error, "experiments": None}


def exp_show(baseline_value):
    experiments = [
        entry("a1", "worse", 120.0, {"model": {"params": {"lr": 0.3}}}),
        entry("b2", "best", 90.0, {"model": {"params": {"lr": 0.1}}}),
        entry("c3", "broken", 10.0, {"model": {"params": {"lr": 9}}}, error={"msg": "failed"}),
        entry("d4", "queued", None, {"model": {"params": {"lr": 0.2}}}),
    ]
    head = entry("f00", "main", baseline_value, {"model": {"params": {"lr": 0.2}}})
    head["experiments"] = [{"revs": [item], "name": item["name"], "executor": None} for item in experiments]
    return [entry("workspace", None, 1.0, {}), head]


def test_ranking_puts_the_best_first_and_unfinished_last():
    baseline, outcomes = sweep.read_experiments(exp_show(100.0), "model/metrics.json", "rmse")
    assert (baseline.name, baseline.value) == ("main", 100.0)  # the commit, not the workspace
    assert [o.name for o in sweep.rank(outcomes, higher_is_better=False)] == ["best", "worse", "broken", "queued"]
    assert [o.name for o in sweep.rank(outcomes, higher_is_better=True)][:2] == ["worse", "best"]
    assert sweep.varying_params([baseline, *outcomes]) == ["model.params.lr"]
    assert outcomes[0].metrics == ["r2", "rmse"]


@pytest.mark.parametrize(
    ("baseline_value", "chosen", "line"),
    [
        (100.0, "best", "best by rmse: best 90 (baseline main 100)"),
        (80.0, None, "no experiment beats main 80 on rmse (best: best 90)"),
        (90.0, None, "no experiment beats main 90 on rmse (best: best 90)"),  # a tie is no gain
        (None, None, "best by rmse: best 90; main's own rmse is unknown (run `make pipeline`), so none is applied"),
    ],
)
def test_only_an_experiment_that_beats_the_baseline_is_applied(baseline_value, chosen, line):
    baseline, outcomes = sweep.read_experiments(exp_show(baseline_value), "model/metrics.json", "rmse")
    best = sweep.choose(baseline, outcomes, higher_is_better=False)
    assert (best.name if best else None) == chosen
    assert sweep.verdict(baseline, outcomes, "rmse", higher_is_better=False) == line


def test_applied_values_go_back_into_the_committed_layout(tmp_path):
    before = (ROOT / "params.yaml").read_text()
    applied = yaml.safe_load(before)
    applied["split"]["seed"] = 12345
    applied["split"]["swept_key"] = 0  # a key the sweep added
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(applied, sort_keys=False))  # block style, no comments: as DVC writes it
    sweep.keep_layout(path, before)
    after = path.read_text()
    assert yaml.safe_load(after) == applied
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    assert [line.strip() for line in removed] == [f"seed: {yaml.safe_load(before)['split']['seed']}"]
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]


def test_a_removed_key_keeps_dvcs_file(tmp_path):
    before = (ROOT / "params.yaml").read_text()
    applied = yaml.safe_load(before)
    del applied["mlflow"]
    path = tmp_path / "params.yaml"
    path.write_text(written := yaml.safe_dump(applied, sort_keys=False))
    sweep.keep_layout(path, before)
    assert path.read_text() == written


def test_experiments_run_their_own_code_and_log_to_the_workspace_store(tmp_path):
    env = sweep.experiment_env({"PATH": "/bin"}, tmp_path)
    assert env["PYTHONPATH"] == "src"  # relative: each temporary copy's own src/
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert sweep.experiment_env({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path)["MLFLOW_TRACKING_URI"] == (
        "http://mlflow:5000"
    )


def make(repo, *args, check=True, measure=False):
    """`make` in the copy, with this checkout's environment (.venv, .tools) linked in: no new venv."""
    for name in (".venv", ".tools"):
        if not (repo / name).exists():
            (repo / name).symlink_to(ROOT / name)
            # .gitignore's `/.venv/` matches a directory, not a link to one.
            with (repo / ".git/info/exclude").open("a") as exclude:
                exclude.write(f"/{name}\n")
    # -o: never re-sync the linked environment from the copy (its pyproject.toml may be newer than
    # the environment's stamp), which would point the editable install at this temporary copy.
    return run(repo, "make", "-s", "-o", ".venv/.synced", *args, check=check, measure=measure)


def changed_files(repo) -> set[str]:
    return {line.split()[-1] for line in git(repo, "status", "--porcelain").splitlines()}


def mlflow_runs(repo) -> list:
    """The training runs in the copy's local MLflow store, newest first."""
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(
        yaml.safe_load((repo / "params.yaml").read_text())["mlflow"]["experiment"]
    )
    return list(client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"]))


@pytest.mark.slow
@pytest.mark.pipeline
def test_make_sweep_runs_ranks_and_applies_dvc_experiments(tmp_path):
    # A deliberately weak baseline commit, so that the sweep has something to beat.
    repo, config = make_fork(tmp_path, SCENARIO, lambda p: p["model"]["params"].update(learning_rate=0.01))
    gated, metrics_file = config.gate.metric, config.paths.metrics.as_posix()  # lower is better: rmse or mae
    runs_before = len(mlflow_runs(repo))

    swept = make(repo, "sweep", "SET=model.params.learning_rate=0.1,0.2")
    assert git(repo, "status", "--porcelain") == ""  # experiments ran in temporary copies

    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    baseline_score = shown[1]["data"]["metrics"][metrics_file]["data"][gated]
    experiments = {
        rev["name"]: (
            rev["data"]["params"]["params.yaml"]["data"]["model"]["params"]["learning_rate"],
            rev["data"]["metrics"][metrics_file]["data"][gated],
        )
        for experiment in shown[1]["experiments"]
        for rev in experiment["revs"]
    }
    assert sorted(rate for rate, _ in experiments.values()) == [0.1, 0.2]
    best_name = min(experiments, key=lambda name: experiments[name][1])
    assert experiments[best_name][1] < baseline_score, "the weak baseline should lose to a sane learning rate"

    # The table is dvc exp show, best (lowest error) first, with the swept param as a column.
    rows = [line for line in swept.stdout.splitlines() if re.search(r"\[sweep-", line)]
    assert [re.search(r"\[(sweep-[^\]]+)\]", row)[1] for row in rows] == sorted(
        experiments, key=lambda name: experiments[name][1]
    )
    assert "model.params.learning_rate" in swept.stdout
    assert f"best by {gated}: {best_name}" in swept.stderr

    # Each experiment trained once: one MLflow run each, in the workspace's store, with test metrics.
    runs = mlflow_runs(repo)[:-runs_before]  # newest first: the sweep's, then the baseline's
    assert len(runs) == 2
    assert sorted(float(r.data.params["model.params.learning_rate"]) for r in runs) == [0.1, 0.2]
    assert sorted(r.data.metrics[f"test_{gated}"] for r in runs) == pytest.approx(
        sorted(e[1] for e in experiments.values())
    )

    # sweep-apply ranks every experiment from this commit and applies the best (APPLY=1 does the
    # same for one sweep's experiments: a third experiment here would add a minute to the suite).
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    best = min(
        (rev["data"]["metrics"][metrics_file]["data"][gated], rev["data"]["params"]["params.yaml"]["data"])
        for experiment in shown[1]["experiments"]
        for rev in experiment["revs"]
    )
    make(repo, "sweep-apply", measure=True)  # coverage follows: it runs no pipeline stage
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"] == best[1]["model"]
    assert json.loads((repo / metrics_file).read_text())[gated] == pytest.approx(best[0])
    assert changed_files(repo) == {"dvc.lock", "params.yaml"}
    assert git(repo, "diff", "--numstat", "params.yaml") == "1\t1\tparams.yaml"  # one value, layout kept
    assert "up to date" in run(repo, "dvc", "status").stdout  # its outputs are in the workspace too
    # Once committed, the experiments belong to the previous commit: nothing to rank from this one.
    git(repo, "commit", "-qam", "apply the sweep's best")
    again = make(repo, "sweep-apply", check=False, measure=True)
    assert again.returncode != 0
    assert "no experiments from this commit to rank" in again.stderr


def test_quoted_values_a_sweep_did_not_change_keep_their_quotes(tmp_path):
    before = """data:
  target: "Price (€)"  # a fork's column names need quotes
  columns:
    "Make & Model": {type: categorical}
    'Share %': {type: numeric, min: 0, max: 100}
model:
  params: {max_depth: 3, min_samples_leaf: 5}
"""
    applied = yaml.safe_load(before)
    applied["model"]["params"]["max_depth"] = 6
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(applied, sort_keys=False))
    sweep.keep_layout(path, before)
    after = path.read_text()
    assert yaml.safe_load(after) == applied
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines(), strict=True) if old != new]
    assert changed == [(
        "  params: {max_depth: 3, min_samples_leaf: 5}", "  params: {max_depth: 6, min_samples_leaf: 5}"
    )]  # fmt: skip
