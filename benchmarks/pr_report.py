"""What the PR report's comparison costs: the paired bootstrap (every metric and slice) and the figures.

    make benchmark-report     (after make pipeline)

Regression: this repository's own per-row scores (paths.scores) against a copy whose predictions
are perturbed (the values do not change the cost, the rows and resamples do). Classification:
seeded synthetic rows of the same count, binary and with five classes, with a categorical column
and the target as slices. gate.bootstrap's settings; medians of a few runs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mlops.config import load_config
from mlops.gitops import report_figures
from mlops.gitops.comparison import Side, compare
from mlops.provenance import git_commit

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]


def seconds(call, repeats: int = 3) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def classification_rows(rows: int, classes: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = [f"class_{k}" for k in range(classes)]
    actual = rng.integers(0, classes, rows)
    logits = rng.normal(0, 1, (rows, classes))
    logits[np.arange(rows), actual] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {"actual": np.asarray(labels)[actual], "predicted": np.asarray(labels)[probabilities.argmax(1)]}
    )
    for k, label in enumerate(labels):
        frame[f"p_{label}"] = probabilities[:, k]
    frame["slice:region"] = rng.choice(
        ["north", "south", "east", "west", "island"], rows, p=[0.3, 0.3, 0.2, 0.18, 0.02]
    )
    frame["slice:target"] = frame["actual"]
    return frame


def perturbed(frame: pd.DataFrame, task: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    other = frame.copy()
    if task == "regression":
        other["predicted"] = other["predicted"] * rng.normal(1, 0.02, len(other))
        other["residual"] = other["predicted"] - other["actual"]
        return other
    columns = [column for column in other.columns if column.startswith("p_")]
    noisy = other[columns].to_numpy() * rng.uniform(0.8, 1.2, (len(other), len(columns)))
    noisy /= noisy.sum(axis=1, keepdims=True)
    other[columns] = noisy
    other["predicted"] = np.asarray([column[2:] for column in columns])[noisy.argmax(axis=1)]
    return other


def measure(task: str, base_rows: pd.DataFrame, metric: str, config, metrics: dict) -> dict:
    new_rows = perturbed(base_rows, task, seed=1)
    base = Side("main", task, metrics, scores=base_rows, test_sha256="same")
    new = Side("pr", task, metrics, scores=new_rows, test_sha256="same")
    settings = config.gate.bootstrap
    slices = sum(len(set(base_rows[c])) for c in base_rows.columns if c.startswith("slice:"))
    compared = seconds(lambda: compare(base, new, metric, settings))
    out = Path(tempfile.mkdtemp())
    drawn = seconds(
        lambda: report_figures.draw(
            report_figures.Drawn("main", base_rows, None),
            report_figures.Drawn("this PR", new_rows, None),
            out,
            task="classification" if task != "regression" else "regression",
            target="target",
            unit=None,
            metric=metric,
        ),
        repeats=1,
    )
    return {"rows": len(base_rows), "slices": slices, "compare": compared, "figures": drawn}


def main() -> int:
    load = os.getloadavg()[0]
    config = load_config(ROOT / "params.yaml")
    scores = pd.read_csv(ROOT / config.paths.scores, keep_default_na=False, na_values=[""])
    results = []
    if config.data.task == "regression":
        from mlops.metrics import names

        results.append(("regression (this repository's test split)", "rmse", names("regression"), scores))
    rows = len(scores)
    from mlops.metrics import names

    for label, classes in (("binary classification (synthetic)", 2), ("5 classes (synthetic)", 5)):
        results.append((label, "roc_auc", names("classification"), classification_rows(rows, classes, seed=0)))
    lines = []
    for label, metric, metric_names, frame in results:
        task = "regression" if label.startswith("regression") else "classification"
        measured = measure(task, frame, metric, config, dict.fromkeys(metric_names, 1.0))
        lines.append(
            f"| {label} | {measured['rows']:,} | {len(metric_names)} | {measured['slices']} "
            f"| {measured['compare']:.2f} | {measured['figures']:.2f} |"
        )
        print(lines[-1], flush=True)
    settings = config.gate.bootstrap
    section = "\n".join(
        [
            "## PR report: paired bootstrap and figures",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()}",
            f"(load average {load:.1f} at the start: on a shared machine read the numbers as upper bounds),",
            f"{settings.resamples:,} resamples (gate.bootstrap), every metric of the task and the gated one per",
            "slice; median of 3 comparisons, one drawing of the figures. Reproduce:",
            "",
            "```bash",
            "make pipeline && make benchmark-report",
            "```",
            "",
            "| data | test rows | metrics | slices | paired bootstrap (s) | figures (s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *lines,
            "",
            "The report's own log line (`compared in ... s, figures in ... s`) gives the same two numbers for",
            "every real run. Reproducing the base branch in a worktree comes on top: seconds when DVC's",
            "run-cache has its stages, a full training run when it does not.",
        ]
    )
    write_section(ROOT / "docs" / "benchmarks.md", "pr-report", section)
    print("wrote docs/benchmarks.md (pr-report)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
