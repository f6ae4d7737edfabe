"""Datasets unlike the demo's, and the params.yaml a fork would write for them.

The suite runs the real pipeline, report and API on each (tests/test_forks_e2e.py) to prove that
a fork's data, model and task work with no edit under src/ or tests/. Built from scikit-learn's
bundled datasets (no download) plus seeded noise, so every run sees the same rows.

`python tests/forks.py <scenario> <repo>` turns a clone into that fork, as a user would: the CSV
into data/, params.yaml edited, `dvc add data`, `make sample`. Then `make pipeline && make ci`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def _with_missing(values: pd.Series, share: float, rng: np.random.Generator) -> pd.Series:
    return values.mask(rng.random(len(values)) < share)


def regression(*, categorical: bool = True) -> tuple[pd.DataFrame, dict]:
    """Diabetes progression (442 rows): numbers, plus (optionally) a text column with missing values."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.rename(columns={"target": "progression", "s1": "tc", "s2": "ldl", "s3": "hdl"})
    rng = np.random.default_rng(1)
    frame["bmi"] = _with_missing(frame["bmi"], 0.05, rng)
    columns = {name: {"type": "numeric"} for name in frame.columns if name not in ("sex", "progression")}
    if categorical:
        frame["sex"] = _with_missing(frame["sex"].map({1.0: "female", 2.0: "male"}), 0.08, rng)
        columns["sex"] = {"type": "categorical"}
    else:
        frame = frame.drop(columns="sex")
    columns["progression"] = {"type": "numeric", "min": 0, "max": 1000, "unit": "points"}
    params = {
        "data": {"task": "regression", "target": "progression", "columns": columns},
        "split": {"test_size": 0.25, "seed": 3},
        "features": {},
        "model": {"family": "HistGradientBoostingRegressor", "params": {"max_iter": 80, "learning_rate": 0.05}},
        "gate": {"metric": "mae", "threshold": 80.0, "max_regression_pct": 5.0},
        "mlflow": {"experiment": "diabetes"},
    }
    return frame, params


def multiclass() -> tuple[pd.DataFrame, dict]:
    """Iris species as text labels (150 rows), plus a text column with missing values."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    # Names as a real CSV has them (spaces, parentheses) and a label with an apostrophe, the most
    # common one: they reach MLflow's param names, figure files, HTML, JSON and shell examples.
    frame = data.frame.rename(columns={"target": "Species"})
    frame["Species"] = frame["Species"].map(dict(enumerate(data.target_names)))
    rng = np.random.default_rng(2)
    gardens = rng.choice(["St Andrew's", "Kew", "Edinburgh"], len(frame), p=[0.5, 0.25, 0.25])
    frame["Garden"] = _with_missing(pd.Series(gardens), 0.1, rng)
    columns = {name: {"type": "numeric", "min": 0, "max": 50, "unit": "cm"} for name in frame.columns[:4]}
    columns.update(Garden={"type": "categorical"}, Species={"type": "categorical"})
    params = {
        "data": {"task": "classification", "target": "Species", "columns": columns},
        "split": {"test_size": 0.2, "seed": 7},
        "features": {"ratios": {"petal shape": ["petal length (cm)", "petal width (cm)"]}},
        "model": {"family": "LogisticRegression", "params": {"C": 1.0, "max_iter": 500}},
        "gate": {"metric": "f1_macro", "threshold": 0.8, "max_regression_pct": 5.0},
        "mlflow": {"experiment": "iris"},
    }
    return frame, params


def binary() -> tuple[pd.DataFrame, dict]:
    """Breast cancer diagnosis as whole-number labels (300 of its rows, 6 features)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.sample(300, random_state=4).sort_index().reset_index(drop=True)
    features = ["mean radius", "mean texture", "mean smoothness", "worst concavity", "worst symmetry", "area error"]
    frame = frame[[*features, "target"]].rename(columns={"target": "malignant"})
    frame["malignant"] = 1 - frame["malignant"]  # sklearn's 1 is benign
    columns = {name: {"type": "numeric", "min": 0} for name in frame.columns if name != "malignant"}
    columns["malignant"] = {"type": "numeric"}
    params = {
        "data": {"task": "classification", "target": "malignant", "columns": columns},
        "split": {"test_size": 0.3, "seed": 11},
        "features": {},
        "model": {"family": "RandomForestClassifier", "params": {"n_estimators": 60, "random_state": 0}},
        "gate": {"metric": "roc_auc", "threshold": 0.9, "max_regression_pct": 2.0},
        "mlflow": {"experiment": "breast-cancer"},
    }
    return frame, params


SCENARIOS: dict[str, Callable[[], tuple[pd.DataFrame, dict]]] = {
    "regression": regression,
    "regression-numeric": lambda: regression(categorical=False),
    "multiclass": multiclass,
    "binary": binary,
}


def fork_params(params: dict, changes: dict, raw: str) -> dict:
    """`params` (a params.yaml mapping) as a fork with `changes` and its raw CSV at `raw` writes it."""
    result = {**params, **changes}
    result["paths"] = {**params["paths"], "raw": raw}
    if "model" in changes and "sweep" not in changes:
        result.pop("sweep", None)  # the template's grid names the demo model's hyperparameters
    return result


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def apply(scenario: str, repo: Path) -> None:
    """Make `repo` (a clone of this template) the fork `scenario`, with the commands a user runs."""
    frame, changes = SCENARIOS[scenario]()
    params_path = repo / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    for old in (repo / "data").glob("*.csv"):
        old.unlink()
    name = f"data/{scenario}.csv"
    write_csv(frame, repo / name)
    params_path.write_text(yaml.safe_dump(fork_params(params, changes, name), sort_keys=False))
    dvc = [sys.executable, "-m", "dvc"]
    # docs/fork.md step 6: the data goes to the default remote (in-repo for the demo), where CI pulls it.
    for command in ([*dvc, "add", "--quiet", "data"], [*dvc, "push", "--quiet", "data.dvc"], ["make", "sample"]):
        subprocess.run(command, cwd=repo, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("repo", type=Path)
    args = parser.parse_args(argv)
    apply(args.scenario, args.repo)
    print(f"{args.repo} is now the {args.scenario!r} fork: run `make pipeline && make ci` there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
