"""Offline drift report: a prediction log or a CSV of new data against the training reference.

    python -m mlops.monitor --input predictions.jsonl     (make monitor INPUT=...)

Input: the JSON lines the API writes (stdout or PREDICTION_LOG_FILE; other lines are skipped),
or a CSV with the raw feature columns (the model predicts it, so prediction drift is scored
too). Writes drift.md and, per drifted feature, a PNG of reference vs current distribution.
Exit code: 0 no drift (or too little data to say), 1 drift found, 2 bad input.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mlops import artifacts, model_output
from mlops.api.prediction_log import prediction_lines
from mlops.bundle import BundleError, load_bundle
from mlops.config import DEFAULT_PARAMS, ConfigError, load_config
from mlops.drift import assess, categorical_shares, drift_rule, label_strings, numeric_shares
from mlops.raw_data import DataValidationError, load_raw

NO_DRIFT, DRIFT, BAD_INPUT = 0, 1, 2
REPORT_FILES = ("drift.md", "*.png")  # what a report directory holds: --out may replace only such a directory


class InputError(ValueError):
    """The input file cannot be read as a prediction log or a CSV of features."""


def load_input(path: Path, config, bundle, model_version: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and predictions from a prediction log (.jsonl/.log/.json) or a CSV.

    A log's lines are those of `model_version` (None: every version), since predictions of
    different models are not one distribution.
    """
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    if Path(path).suffix.lower() == ".csv":
        frame = load_raw(path, config.data, require_target=False)
        features = frame[list(config.data.features)]
        return features, _as_profiled(model_output.predict(bundle.pipeline, features, bundle.task).values, bundle)
    try:
        lines = prediction_lines(path)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text prediction log (JSON lines) or a .csv") from None
    if not lines:
        raise InputError(f'{path}: no prediction lines (JSON objects with "event": "prediction") found')
    if model_version is not None:
        found = collections.Counter(str(event.get("model_version")) for _, event in lines)
        lines = [(number, event) for number, event in lines if event.get("model_version") == model_version]
        if not lines:
            versions = ", ".join(f"{version} ({count:,} lines)" for version, count in found.most_common())
            raise InputError(
                f"{path}: no prediction lines of model {model_version}; the log has {versions}. "
                "Pass --model-version <version> or --model-version all"
            )
    records = _checked_inputs(path, lines, bundle)
    return bundle.schema.to_frame(records), _as_profiled(_checked_predictions(path, lines, bundle), bundle)


def _checked_inputs(path: Path, lines: list[tuple[int, dict]], bundle) -> list[dict]:
    """Each line's inputs, validated as the API validates a request (a log is a file anyone can edit).
    Keys the model does not know are dropped: an older model's log may hold other features."""
    names = set(bundle.schema.names)
    inputs = [event.get("inputs") for _, event in lines]
    for (number, _), record in zip(lines, inputs, strict=True):
        if not isinstance(record, dict):
            raise InputError(f'{path}, line {number}: "inputs" must be an object of feature values, got {record!r:.60}')
    records = [{key: value for key, value in record.items() if key in names} for record in inputs]
    valid, errors = bundle.schema.validate_records(records, max_errors=1)
    if errors:
        first = errors[0]
        line = lines[first.record][0] if first.record is not None else "?"
        others = f" ({errors.total - 1} more problem(s) in the file)" if errors.total > 1 else ""
        raise InputError(f"{path}, line {line}: inputs.{first.field}: {first.message}{others}")
    return valid


def _checked_predictions(path: Path, lines: list[tuple[int, dict]], bundle) -> list:
    """Each line's prediction: a finite number (regression) or one of the model's classes."""
    classes = None if bundle.classes is None else {str(label) for label in bundle.classes}
    for number, event in lines:
        value = event.get("prediction")
        if classes is None:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str | int) and not isinstance(value, bool) and str(value) in classes
        if not ok:
            if classes is None:
                expected = "a finite number"
            else:
                listed = sorted(classes)
                expected = f"one of the model's classes ({', '.join(listed[:10])}{', ...' if len(listed) > 10 else ''})"
            raise InputError(f'{path}, line {number}: "prediction" must be {expected}, got {value!r:.60}')
    return [event.get("prediction") for _, event in lines]


def _as_profiled(predictions, bundle) -> np.ndarray:
    """Predictions as the drift reference profiles them: numbers, or labels as text."""
    if bundle.classes is None:
        return np.array([np.nan if value is None else value for value in predictions], dtype=float)
    return label_strings(predictions).to_numpy()


def figure_files(names: list[str]) -> list[str]:
    """A PNG file name for each name: the name with what a path or a Markdown link cannot hold
    (a slash, a space, brackets...) as _, and a number when two names come out the same."""
    files: list[str] = []
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "feature"
        candidate, number = f"{stem}.png", 1
        while candidate in files:
            number += 1
            candidate = f"{stem}_{number}.png"
        files.append(candidate)
    return files


def alt_text(name: str) -> str:
    """A name as a Markdown image's alt text (brackets escaped)."""
    return re.sub(r"([\[\]\\])", r"\\\1", name)


def render(report: dict, source: Path, figures: list[tuple[str, str]]) -> str:
    """drift.md; `figures`: (name, PNG file) of each drifted feature (and the prediction)."""
    verdicts = {"ok": "✅ no drift", "drift": "❌ **drift**", "insufficient_data": "⏳ insufficient data"}
    verdict = verdicts[report["verdict"]]
    lines = [
        f"# Drift report: `{source.name}`",
        "",
        f"{verdict} — {report['rows']:,} rows (at least {report['min_rows']:,} needed); a feature has drifted when "
        f"{drift_rule(report['thresholds']['psi'], report['thresholds']['ks_alpha'])}.",
        "",
    ]
    if report["verdict"] == "insufficient_data":
        return "\n".join(lines) + "\n"
    lines += [
        "| feature | PSI | KS statistic | p-value (KS; χ² for categories) | missing (now / training) | drifted |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for item in [*report["features"], report["prediction"]]:
        ks = "" if item["ks_statistic"] is None else f"{item['ks_statistic']:.3f}"
        pvalue = "" if item["pvalue"] is None else f"{item['pvalue']:.2g}"
        missing = f"{item['missing_share']:.1%} / {item['reference_missing_share']:.1%}"
        flag = "**yes**" if item["drifted"] else "no"
        lines.append(f"| {item['name']} | {item['psi']:.3f} | {ks} | {pvalue} | {missing} | {flag} |")
    if figures:
        lines += ["", "## Drifted features: training vs current", ""]
        lines += [f"![{alt_text(name)}]({file})" for name, file in figures]
    return "\n".join(lines) + "\n"


def plain_number(value: float, decimals: int) -> str:
    """A number as people write it: thousands separators, fixed decimals, never 1.2e+05."""
    text = f"{value:,.{decimals}f}"
    return "0" if text.lstrip("-").strip("0.,") == "" else text


def bin_labels(edges: list[float]) -> list[str]:
    """Labels of the reference's bins (below the first edge ... from the last one up), then missing.

    As many decimals as it takes to tell neighbouring edges apart (from 0 for prices to a few for
    ratios), at most 6.
    """
    if not edges:
        return ["all", "missing"]
    gaps = [b - a for a, b in itertools.pairwise(edges) if b > a]
    smallest = min(gaps) if gaps else abs(edges[0]) or 1.0
    decimals = min(6, max(0, 1 - math.floor(math.log10(smallest))))
    while decimals and all(round(edge, decimals - 1) == round(edge, decimals) for edge in edges):
        decimals -= 1  # 12 and 17, not 12.0 and 17.0
    shown = [plain_number(edge, decimals) for edge in edges]
    return [f"< {shown[0]}", *(f"{a} to {b}" for a, b in itertools.pairwise(shown)), f"≥ {shown[-1]}", "missing"]


# The width GitHub gives an image in an issue or comment, and the resolution that fills it.
FIGURE_WIDTH_PX, DPI = 800, 100


def draw(item: dict, profile: dict, values, path: Path) -> None:
    """Training vs current share per bin (numbers: the reference's quantile bins), 800 px wide."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if profile["type"] == "numeric":
        current = numeric_shares(values, profile["edges"])
        labels = bin_labels(profile["edges"])
        xlabel = "bins: the training data's quantiles"
    else:
        current = categorical_shares(values, profile["categories"])
        labels = [*profile["categories"], "other", "missing"]
        xlabel = "category"
    positions = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_PX / DPI, 4.2))
    ax.bar(positions - 0.2, profile["shares"], width=0.4, label="training", color="#4c72b0")
    ax.bar(positions + 0.2, current, width=0.4, label="current", color="#dd8452")
    crowded = sum(len(label) for label in labels) > 70  # what fits level under 800 px of bars
    ax.set_xticks(
        positions, labels, rotation=35 if crowded else 0, ha="right" if crowded else "center", rotation_mode="anchor"
    )
    # Whole steps of 1, 2 or 5 percent, so that every tick label is exact.
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda share, _: f"{100 * share:.3g}%"))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set(ylabel="share of rows", xlabel=xlabel, title=f"{item['name']}: training vs current (PSI {item['psi']:.2f})")
    ax.legend(frameon=False)
    fig.tight_layout()
    with artifacts.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="prediction log (JSON lines) or CSV of new data")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--out", type=Path, default=Path("monitoring-report"))
    parser.add_argument(
        "--model-version",
        default="current",
        help="which model's lines of a prediction log to assess: current (the trained bundle's, default), "
        "a version, or all",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.params)
        bundle = load_bundle(config.paths.model, config.paths.metadata)
        reference = read_reference(config.paths.reference)
        version = {"current": bundle.version, "all": None}.get(args.model_version, args.model_version)
        features, predictions = load_input(args.input, config, bundle, version)
    except (ConfigError, BundleError, DataValidationError, InputError) as error:
        print(f"[monitor] error: {error}", file=sys.stderr)
        return BAD_INPUT
    except OSError as error:  # e.g. the input is not readable
        print(f"[monitor] error: {error.filename or args.input}: {error.strerror or error}", file=sys.stderr)
        return BAD_INPUT
    report = assess(reference, features, predictions, config.monitor)
    try:
        # A fresh directory that replaces the last report whole: no figure of an earlier run stays behind.
        with artifacts.atomic_dir(args.out, ours=REPORT_FILES) as scratch:
            items = [*report["features"], *([report["prediction"]] if report["prediction"] else [])]
            drifted = [item for item in items if item["drifted"]]
            files = figure_files([item["name"] for item in drifted])
            for item, file in zip(drifted, files, strict=True):
                values = predictions if item is report["prediction"] else features[item["name"]]
                draw(item, reference["features"][item["name"]], values, scratch / file)
            figures = [(item["name"], file) for item, file in zip(drifted, files, strict=True)]
            artifacts.write_text(scratch / "drift.md", render(report, args.input, figures))
    except artifacts.NotOursError as error:
        print(f"[monitor] error: {error}", file=sys.stderr)
        return BAD_INPUT
    except OSError as error:  # --out is a file, or under one, or not writable
        reason = error.strerror or str(error)
        print(f"[monitor] error: --out {args.out}: cannot write the report there ({reason})", file=sys.stderr)
        return BAD_INPUT
    print(f"[monitor] {report['verdict']}: {report['rows']:,} rows; report in {args.out / 'drift.md'}", file=sys.stderr)
    if report.get("drifted"):
        print(f"[monitor] drifted: {', '.join(report['drifted'])}", file=sys.stderr)
    return DRIFT if report["verdict"] == "drift" else NO_DRIFT


def read_reference(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BundleError(f"{path}: no drift reference; train the model first (make pipeline)") from None


if __name__ == "__main__":
    sys.exit(main())
