"""The pull-request report: this branch's pipeline results against its base branch's.

`python -m mlops.gitops.report --base origin/main` (make ci-report) expects `dvc repro` to have run in
the working tree. It reproduces the base branch in a temporary git worktree that shares DVC's
cache (unchanged stages come back from DVC's run-cache instead of being retrained), then writes
`report.md`: the quality gate's verdict with the thresholds it applied, each metric's change
with a paired bootstrap interval (both models scored the same test rows), the model against
its baselines, the slices, the params diff, data and model hashes, and figures with base and PR
on the same axes. Exit code 1 when the gate fails (the report is written either way). CML posts
report.md as the PR comment; CI puts summary.md (the same, figures by name) in the job summary.

The gate catches honest regressions: CI runs the PR's own copy of this code, so a PR that
edits it could pass itself. Reviewers read the comment; branch protection should require it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import yaml

from mlops import artifacts, cli
from mlops.artifacts import sha256_file
from mlops.baselines import DESCRIPTIONS, LINEAR, TRIVIAL
from mlops.bootstrap import BETTER, NOISE, WORSE, Change
from mlops.bundle import read_run_record
from mlops.config import DEFAULT_PARAMS, BootstrapConfig, GateConfig, load_config
from mlops.gitops import report_figures
from mlops.gitops.comparison import Comparison, Side, compare
from mlops.metrics import METRICS, is_finite_number, shown

log = logging.getLogger(__name__)
MARKER = "<!-- mlops-template: model report -->"
VERDICT_MARK = {BETTER: "🟢 better", WORSE: "🔴 worse", NOISE: "within noise"}
SLICE_ROWS_SHOWN = 20  # per slicing column; the rest are in metrics.json


@dataclass
class Results:
    """What one side (base or PR) produced."""

    label: str
    commit: str
    params: dict
    metrics: dict[str, float] | None = None  # the model's test metrics (metrics.json, top level)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # metrics.json "baselines"
    slices: dict[str, dict[str, dict]] = field(default_factory=dict)  # metrics.json "slices"
    data_md5: str | None = None
    train_sha256: str | None = None
    test_sha256: str | None = None
    model_version: str | None = None
    run_url: str | None = None
    scores: pd.DataFrame | None = None  # every test row (paths.scores), when the pipeline writes it
    plot_rows: pd.DataFrame | None = None  # the figures' rows: scores, or the older plot sample
    importance: pd.DataFrame | None = None
    note: str | None = None  # why results are missing, when they are

    @property
    def task(self) -> str:
        return (self.params.get("data") or {}).get("task") or "regression"

    def side(self) -> Side:
        return Side(self.label, self.task, self.metrics or {}, self.slices, self.scores, self.test_sha256)


@dataclass(frozen=True)
class Gate:
    passed: bool
    reasons: list[str]  # the checks that failed
    source: str  # which branch's params.yaml set the thresholds
    note: str | None = None  # why the usual rule (the base's thresholds) did not apply
    checks: list[str] = field(default_factory=list)  # every check applied, passed or not, in order


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_csv(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.is_file():
        return None
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def committed_params(root: Path, commit: str) -> dict:
    """params.yaml as committed at `commit` (empty when it has none or it does not parse)."""
    try:
        params = yaml.safe_load(_git(root, "show", f"{commit}:{DEFAULT_PARAMS.as_posix()}"))
    except (subprocess.CalledProcessError, yaml.YAMLError):
        return {}
    return params if isinstance(params, dict) else {}


def collect(root: Path, label: str, commit: str, params_file: Path = DEFAULT_PARAMS) -> Results:
    """Read a working tree's params and pipeline outputs (after `dvc repro`)."""
    params = yaml.safe_load((root / params_file).read_text(encoding="utf-8")) or {}
    paths = {key: root / value for key, value in (params.get("paths") or {}).items()}
    results = Results(label=label, commit=commit, params=params)
    document = _read_json(paths["metrics"]) if "metrics" in paths else None
    if document is not None:
        results.metrics = {key: value for key, value in document.items() if is_finite_number(value)}
        results.baselines = document.get("baselines") or {}
        results.slices = document.get("slices") or {}
    metadata = _read_json(paths["metadata"]) if "metadata" in paths else None
    if metadata:
        results.model_version = metadata.get("model", {}).get("version")
        results.train_sha256 = metadata.get("data", {}).get("train_sha256")
        if "run" in paths and results.model_version:
            run = read_run_record(paths["run"], results.model_version) or {}
            results.run_url = (run.get("mlflow") or {}).get("run_url")
    data_dvc = yaml.safe_load((root / "data.dvc").read_text()) if (root / "data.dvc").exists() else None
    if data_dvc:
        results.data_md5 = data_dvc["outs"][0].get("md5")
    if "test" in paths and paths["test"].is_file():
        results.test_sha256 = sha256_file(paths["test"])
    results.scores = _read_csv(paths.get("scores"))
    results.plot_rows = results.scores if results.scores is not None else _read_csv(paths.get("predictions"))
    results.importance = _read_csv(paths.get("importance"))
    if results.metrics is None:
        results.note = "no metrics: the pipeline has not been reproduced here"
    return results


def reproduce_base(root: Path, ref: str) -> Results:
    """Check out `ref` in a temporary worktree, reproduce its pipeline, collect its results."""
    try:
        commit = _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        return Results(label=ref, commit="?", params={}, note=f"`{ref}` is not a git revision here")
    # The base's params come from git, so its gate applies even when its pipeline cannot run.
    params = committed_params(root, commit)
    workdir = Path(tempfile.mkdtemp(prefix="base-")) / "tree"
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(workdir), commit)
        if not (workdir / "dvc.yaml").exists() or not (workdir / ".dvc").is_dir():
            return Results(label=ref, commit=commit, params=params, note=f"`{ref}` has no pipeline yet")
        # One DVC cache for both trees: the base's unchanged stages are restored, not retrained.
        (workdir / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {_cache_dir(root)}\n")
        env = {
            **os.environ,
            "PYTHONPATH": str(workdir / "src"),  # the base's code, not this branch's
            # The base's rerun is not an experiment: keep it out of the team's tracking server.
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        }
        log.info("reproducing %s (%s) in a worktree ...", ref, commit[:12])
        for command in (["dvc", "pull", "--quiet", "data.dvc"], ["dvc", "repro", "--quiet"]):
            done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                note = f"`{' '.join(command)}` failed on `{ref}`: {' / '.join(tail)}"
                return Results(label=ref, commit=commit, params=params, note=note)
        return collect(workdir, ref, commit)  # read into memory: the worktree goes next
    except subprocess.CalledProcessError as error:
        return Results(label=ref, commit=commit, params=params, note=f"no worktree for `{ref}`: {error.stderr.strip()}")
    except OSError as error:  # e.g. dvc not on PATH
        return Results(label=ref, commit=commit, params=params, note=f"cannot reproduce `{ref}`: {error}")
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(workdir)], cwd=root, capture_output=True, check=False
        )
        shutil.rmtree(workdir.parent, ignore_errors=True)


def _cache_dir(root: Path) -> Path:
    """This tree's DVC cache, wherever its config puts it (.dvc/cache unless told otherwise)."""
    done = subprocess.run(["dvc", "cache", "dir"], cwd=root, capture_output=True, text=True, check=False)
    configured = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    return (configured if configured and configured.is_absolute() else root / ".dvc" / "cache").resolve()


def flatten(params: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def params_diff(base: dict, current: dict) -> list[tuple[str, object, object]]:
    """(key, base value, PR value) for every key that differs; None where a side lacks it."""
    old, new = flatten(base), flatten(current)
    return [(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def gate_settings(params: dict) -> dict:
    """A params.yaml `gate` section as {metric, threshold, max_regression_pct, ...}; a base branch from
    before `gate.metric` (max_rmse, max_rmse_increase_pct) reads as the same RMSE gate."""
    gate = dict(params.get("gate") or {})
    if "metric" not in gate and ("max_rmse" in gate or "max_rmse_increase_pct" in gate):
        return {
            "metric": "rmse",
            "threshold": gate.get("max_rmse"),
            "max_regression_pct": gate.get("max_rmse_increase_pct"),
        }
    return gate


def bootstrap_settings(gate: dict) -> BootstrapConfig:
    """The gate's bootstrap settings; the defaults where it has none (or a base's are not valid)."""
    try:
        return BootstrapConfig.model_validate(gate.get("bootstrap") or {})
    except ValueError:
        return BootstrapConfig()


def _min_slice_rows(gate: dict) -> int:
    value = gate.get("min_slice_rows")
    return value if isinstance(value, int) and value >= 1 else GateConfig.model_fields["min_slice_rows"].default


def _problem_changed(base: Results, current: Results) -> str | None:
    """The task or the target column, when this branch changes it (a fork's first commit of its own data)."""
    if current.task != base.task:
        return f"data.task from {base.task} to {current.task}"
    base_target, target = ((side.params.get("data") or {}).get("target") for side in (base, current))
    if base_target and target and base_target != target:
        return f"data.target from {base_target!r} to {target!r}"
    return None


def _gate_in_force(base: Results, current: Results) -> tuple[str, dict, str | None]:
    """Which branch's gate applies (the base's: a PR cannot loosen its own), and why not when not."""
    base_gate = gate_settings(base.params)
    changed = _problem_changed(base, current)
    if base_gate and changed:
        # The base's metric or scale does not fit this problem: only this branch's gate can judge it.
        return (
            current.label,
            gate_settings(current.params),
            f"this PR changes {changed}: its own gate applies (review it)",
        )
    if base_gate:
        return base.label, base_gate, None
    return current.label, gate_settings(current.params), None


def compare_sides(base: Results, current: Results) -> Comparison:
    """Base against PR under the gate in force: its metric picks the slices' metric, its bootstrap settings."""
    _, gate, _ = _gate_in_force(base, current)
    metric = gate.get("metric") if gate.get("metric") in METRICS else (current.params.get("gate") or {}).get("metric")
    return compare(base.side(), current.side(), metric or "rmse", bootstrap_settings(gate))


def quality_gate(base: Results, current: Results, comparison: Comparison | None = None) -> Gate:
    """Judge the PR on the gated metric: its threshold, its change against base (failing only when worse
    beyond the allowance and the paired interval excludes zero), the trivial baseline, and slices."""
    source, gate, note = _gate_in_force(base, current)
    name = gate.get("metric")
    metric = METRICS.get(name)
    if metric is None:
        return Gate(False, [f"`gate.metric` {name!r} in {source}'s params.yaml is not a known metric"], source, note)
    value = (current.metrics or {}).get(name)
    if not is_finite_number(value):
        return Gate(False, [f"this branch produced no finite {name} (got {value!r})"], source, note)
    if comparison is None:
        comparison = compare_sides(base, current)
    checks: list[tuple[bool, str]] = []
    threshold = gate.get("threshold")
    if is_finite_number(threshold):
        if metric.worse_by(threshold, value) > 0:
            checks.append((False, f"{name} {_number(value)} is worse than the threshold {_number(threshold)}"))
        else:
            checks.append((True, f"{name} {_number(value)} (threshold {_number(threshold)})"))
    allowance = gate.get("max_regression_pct")
    change = comparison.changes.get(name) if note is None and base.metrics else None
    if is_finite_number(allowance) and change is not None and change.base != 0:
        checks.append(_relative_check(change, base.label, allowance, comparison))
    checks += _baseline_checks(current, name, value)
    slice_allowance = gate.get("max_slice_regression_pct")
    if is_finite_number(slice_allowance) and note is None and base.metrics:
        checks.append(_slice_check(comparison, slice_allowance, _min_slice_rows(gate)))
    failed = [text for passed, text in checks if not passed]
    return Gate(not failed, failed, source, note, [text for _, text in checks])


def _relative_check(change: Change, base_label: str, allowance: float, comparison: Comparison) -> tuple[bool, str]:
    beyond = change.worse_pct > allowance
    significant = change.verdict == WORSE if change.has_interval else True  # no interval: the point value rules
    failed = beyond and significant
    text = f"{change.metric} {change.pct:+.2f}% vs {base_label}"
    if change.has_interval:
        text += f" ({_confidence(comparison)} CI {_pct_interval(change)}): {change.verdict}"
    else:
        text += " (no interval)"
    if failed:
        return False, f"{text}, beyond the allowed {allowance:g}%"
    if beyond:  # worse than allowed by the point value, but the interval includes zero
        return True, f"{text} (allowed {allowance:g}%; not significant, so not failed)"
    return True, f"{text} (allowed {allowance:g}%)"


def _baseline_checks(current: Results, name: str, value: float) -> list[tuple[bool, str]]:
    trivial = (current.baselines.get(TRIVIAL) or {}).get(name)
    if not is_finite_number(trivial):
        return []
    what = DESCRIPTIONS.get(current.task, DESCRIPTIONS["regression"])[TRIVIAL]
    if METRICS[name].worse_by(trivial, value) >= 0:
        return [
            (False, f"{name} {_number(value)} is not better than the trivial baseline's {_number(trivial)} ({what})")
        ]
    return [(True, f"better than the trivial baseline ({name} {_number(trivial)})")]


def _slice_check(comparison: Comparison, allowance: float, min_rows: int) -> tuple[bool, str]:
    if not comparison.paired:
        return True, f"slice rule ({allowance:g}%) not applied: no intervals"
    failing = [
        item
        for item in comparison.slices
        if item.rows >= min_rows
        and item.change is not None
        and item.change.verdict == WORSE
        and item.change.worse_pct is not None
        and item.change.worse_pct > allowance
    ]
    if not failing:
        return True, f"no slice of {min_rows:,}+ rows significantly worse by more than {allowance:g}%"
    named = ", ".join(f"{item.column} = {item.label} ({item.metric} {item.change.pct:+.2f}%)" for item in failing[:3])
    more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
    return False, (
        f"{len(failing)} slice(s) of {min_rows:,}+ rows significantly worse by more than the allowed "
        f"{allowance:g}%: {named}{more}"
    )


def _confidence(comparison: Comparison) -> str:
    return f"{comparison.settings.confidence:.0%}"


def _pct_interval(change: Change) -> str:
    # No brackets: the comment's sanitizer escapes every [ and ] that is not one of the report's links.
    return f"{change.pct_low:+.2f}% to {change.pct_high:+.2f}%"


def _number(value: object) -> str:
    if value is None:
        return "-"
    if not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    return shown(value)


def _signed(value: float, like: float | None = None) -> str:
    """A change with its sign, to the precision its metric is shown with (`like`: a value of it)."""
    if not value:
        return "0"
    sign = "+" if value > 0 else ""
    if like is not None and abs(like) >= 1000:
        return f"{sign}{value:,.0f}"
    if like is not None and abs(like) >= 10:
        return f"{sign}{value:,.2f}"
    return sign + _number(value) if abs(value) >= 10 else f"{sign}{value:.4f}"


def _cell(text: str) -> str:
    """Text from data (a category, a class) safe inside a table cell."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def _metric_rows(base: Results, current: Results, comparison: Comparison) -> list[str]:
    if comparison.paired:
        interval = f"{_confidence(comparison)} interval of the change"
        rows = [
            f"| metric | {base.label} | this PR | change | {interval} | verdict |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
    else:
        rows = [f"| metric | {base.label} | this PR | change | % |", "| --- | ---: | ---: | ---: | ---: |"]
    present = set(current.metrics or {}) | set(base.metrics or {})
    for name in [name for name in METRICS if name in present] + sorted(present - set(METRICS)):
        old, new = (base.metrics or {}).get(name), (current.metrics or {}).get(name)
        change = comparison.changes.get(name)
        if change is None:
            rows.append(f"| {name} | {_number(old)} | {_number(new)} | | |" + (" |" if comparison.paired else ""))
            continue
        pct = f" ({change.pct:+.2f}%)" if change.pct is not None else ""
        if comparison.paired:
            interval = (
                f"{_signed(change.low, old)} to {_signed(change.high, old)} "
                f"({change.pct_low:+.2f}% to {change.pct_high:+.2f}%)"
                if change.has_interval
                else "-"
            )
            verdict = VERDICT_MARK.get(change.verdict, "-")
            delta = f"{_signed(change.delta, old)}{pct}"
            rows.append(f"| {name} | {_number(old)} | {_number(new)} | {delta} | {interval} | {verdict} |")
        else:
            percent = f"{change.pct:+.2f}%" if change.pct is not None else "-"
            rows.append(f"| {name} | {_number(old)} | {_number(new)} | {_signed(change.delta, old)} | {percent} |")
    return rows


def _baseline_rows(current: Results) -> list[str]:
    if not current.baselines:
        return []
    names = DESCRIPTIONS.get(current.task, DESCRIPTIONS["regression"])
    shown_baselines = [key for key in (TRIVIAL, LINEAR) if key in current.baselines]
    header = " | ".join(f"{key}: {names.get(key, key)}" for key in shown_baselines)
    rows = [
        f"| metric | this PR's model | {header} |",
        "| --- | ---: | " + " | ".join("---:" for _ in shown_baselines) + " |",
    ]
    for name in [name for name in METRICS if name in (current.metrics or {})]:
        cells = " | ".join(_number(current.baselines[key].get(name)) for key in shown_baselines)
        rows.append(f"| {name} | {_number(current.metrics[name])} | {cells} |")
    return rows


def _slice_rows(base: Results, comparison: Comparison, gate: dict) -> list[str]:
    if not comparison.slices:
        return []
    min_rows = _min_slice_rows(gate)
    paired = comparison.paired
    has_base = any(item.change is not None for item in comparison.slices)
    header = f"| slice | rows | {base.label} | this PR | change |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if paired:
        header += f" {_confidence(comparison)} interval | verdict |"
        rule += " ---: | --- |"
    elif not has_base:
        header, rule = "| slice | rows | this PR |", "| --- | ---: | ---: |"
    rows = [header, rule]
    left_out = 0
    for column in dict.fromkeys(item.column for item in comparison.slices):
        items = [item for item in comparison.slices if item.column == column]
        if len(items) > SLICE_ROWS_SHOWN:  # the largest slices, and every one that got worse
            keep = sorted(items, key=lambda item: -item.rows)[:SLICE_ROWS_SHOWN]
            keep += [i for i in items if i not in keep and i.change is not None and i.change.verdict == WORSE]
            left_out += len(items) - len(keep)
            items = [item for item in items if item in keep]
        for item in items:
            name = f"`{column}` = {_cell(item.label)}" + (
                f" ({item.metric})" if item.metric != gate.get("metric") else ""
            )
            count = f"{item.rows:,}" + (" (too few to gate)" if item.rows < min_rows else "")
            if not paired and not has_base:
                rows.append(f"| {name} | {count} | {_number(item.new)} |")
                continue
            change = item.change
            if change is None:
                rows.append(f"| {name} | {count} | - | {_number(item.new)} | |" + (" | |" if paired else ""))
                continue
            pct = f" ({change.pct:+.2f}%)" if change.pct is not None else ""
            delta = f"{_signed(change.delta, change.base)}{pct}"
            line = f"| {name} | {count} | {_number(change.base)} | {_number(change.new)} | {delta} |"
            if paired:
                interval = f"{change.pct_low:+.2f}% to {change.pct_high:+.2f}%" if change.has_interval else "-"
                line += f" {interval} | {VERDICT_MARK.get(change.verdict, '-')} |"
            rows.append(line)
    if left_out:
        rows += ["", f"{left_out} smaller slice(s) left out here: all are in metrics.json (`slices`)."]
    return rows


def _changed(old: str | None, new: str | None) -> str:
    if old == new:
        return f"unchanged (`{(new or '-')[:12]}`)"
    return f"`{(old or '-')[:12]}` → `{(new or '-')[:12]}`"


def render(
    base: Results,
    current: Results,
    gate: Gate,
    out: Path,
    comparison: Comparison | None = None,
    figures: list[report_figures.Figure] | None = None,
) -> str:
    comparison = comparison or compare_sides(base, current)
    # The checks name slices by their data (a category could read "<1H OCEAN"): escaped like table cells.
    if gate.passed:
        verdict = "✅ **Quality gate passed**" + (": " + _cell("; ".join(gate.checks)) if gate.checks else "")
    else:
        verdict = "❌ **Quality gate failed**: " + _cell("; ".join(gate.reasons))
        passed = [text for text in gate.checks if text not in gate.reasons]
        if passed:
            verdict += " · also checked: " + _cell("; ".join(passed))
    _, gate_params, _ = _gate_in_force(base, current)
    method = (
        f"paired bootstrap: {comparison.settings.resamples:,} resamples of the same {comparison.rows:,} test rows, "
        f"seed {comparison.settings.seed}"
        if comparison.paired
        else "no intervals"
    )
    lines = [
        MARKER,
        f"## Model report: `{current.label}` vs `{base.label}`",
        "",
        verdict,
        "",
        f"<sub>thresholds from `{gate.source}`'s params.yaml (`gate`); {method}; base `{base.commit[:12]}`, "
        f"this PR `{current.commit[:12]}`</sub>",
        "",
    ]
    if gate.note:
        lines += [f"> ⚠️ {_cell(gate.note)}.", ""]  # a target's name is data
    if base.note:
        lines += [f"> Base results unavailable: {base.note}. Only the absolute limit and the baseline apply.", ""]
    elif gate.note:  # another problem (task or target): its numbers are not a change of the base's
        lines += [
            "> Base and PR solve different problems, so their metrics are shown side by side, not as changes; "
            "no relative or slice rule applies.",
            "",
        ]
    elif not comparison.paired and comparison.why_unpaired:
        lines += [
            f"> No intervals: {comparison.why_unpaired}, so base and PR rows cannot be paired. The relative rule "
            "compares the point values (worse than allowed fails) and the slice rule is not applied.",
            "",
        ]
    comparable = comparison if not gate.note else replace(comparison, changes={})
    lines += ["### Metrics (test split)", "", *_metric_rows(base, current, comparable), ""]
    baseline_rows = _baseline_rows(current)
    if baseline_rows:
        lines += ["### Model vs baselines (this PR, same split)", "", *baseline_rows, ""]
    slice_rows = _slice_rows(base, comparison, gate_params)
    if slice_rows:
        metric = gate_params.get("metric")
        lines += [f"### Slices ({metric}; another metric where it is undefined on a slice)", "", *slice_rows, ""]
    diff = params_diff(base.params, current.params) if base.params else []
    lines += ["### Params", ""]
    if diff:
        lines += ["| key | base | this PR |", "| --- | --- | --- |"]
        lines += [f"| `{key}` | `{old}` | `{new}` |" for key, old, new in diff]
    else:
        lines += ["No params changed." if base.params else "No base params to compare."]
    lines += [
        "",
        "### Data and model",
        "",
        f"- raw data (data.dvc md5): {_changed(base.data_md5, current.data_md5)}",
        f"- training split (sha256): {_changed(base.train_sha256, current.train_sha256)}",
        f"- test split (sha256): {_changed(base.test_sha256, current.test_sha256)}",
        f"- model version: {_changed(base.model_version, current.model_version)}",
    ]
    if current.run_url:
        lines.append(f"- MLflow run: [{current.model_version}]({current.run_url})")
    if figures:
        sides = f"`{base.label}` grey, this PR blue" if base.plot_rows is not None else "this PR"
        lines += ["", f"### Figures ({sides})", ""]
        for figure in figures:
            lines += [f"![{figure.caption}]({figure.path.relative_to(out)})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def draw_figures(base: Results, current: Results, out: Path) -> list[report_figures.Figure]:
    """The comparison figures, from both sides' rows and importance (the PR's alone without a base)."""
    if current.plot_rows is None:
        return []
    data = current.params.get("data") or {}
    target = data.get("target", "target")
    unit = ((data.get("columns") or {}).get(target) or {}).get("unit")
    new = report_figures.Drawn("this PR", current.plot_rows, current.importance)
    old = None
    if base.plot_rows is not None and base.task == current.task:
        old = report_figures.Drawn(base.label, base.plot_rows, base.importance)
    metric = (current.params.get("gate") or {}).get("metric", "rmse")
    return report_figures.draw(old, new, out, task=current.task, target=target, unit=unit, metric=metric)


def for_job_summary(report: str) -> str:
    """The report for a job summary, which cannot show local images: each figure becomes its name."""
    return re.sub(r"!\[([^\]]*)\]\([^)\s]+\.png\)", r"\1 (figure: PR comment, `pr-report` artifact)", report)


# What a report directory holds (CI adds pr-number): --out may replace only such a directory.
REPORT_FILES = ("report.md", "summary.md", "gate.json", "*.png", "pr-number")


def build_report(root: Path, base_ref: str, out: Path, params_file: Path = DEFAULT_PARAMS) -> Gate:
    """Write out/report.md (and the figures it shows) and out/gate.json; return the verdict.

    `out` is replaced whole when the report is complete: no figure or verdict of an earlier run
    survives, and a failed run leaves the last report as it was.
    """
    with artifacts.atomic_dir(out, ours=REPORT_FILES) as scratch:
        # In CI the checkout is detached; GitHub names the PR's branch in GITHUB_HEAD_REF.
        label = os.environ.get("GITHUB_HEAD_REF") or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
        current = collect(root, label, _git(root, "rev-parse", "HEAD"), params_file)
        base = reproduce_base(root, base_ref)
        started = time.perf_counter()
        comparison = compare_sides(base, current)
        compared = time.perf_counter()
        gate = quality_gate(base, current, comparison)
        figures = draw_figures(base, current, scratch)
        log.info(
            "compared in %.1f s (%s), figures in %.1f s",
            compared - started,
            "paired bootstrap" if comparison.paired else f"unpaired: {comparison.why_unpaired}",
            time.perf_counter() - compared,
        )
        text = render(base, current, gate, scratch, comparison, figures)
        (scratch / "report.md").write_text(text, encoding="utf-8")
        (scratch / "summary.md").write_text(for_job_summary(text), encoding="utf-8")
        verdict = {"passed": gate.passed, "reasons": gate.reasons, "checks": gate.checks}
        (scratch / "gate.json").write_text(json.dumps(verdict, indent=2, ensure_ascii=False) + "\n")
    return gate


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main", help="base revision to compare with (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("ci-report"), help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    verdict: list[Gate] = []

    def work() -> None:
        load_config(args.params)  # a params file that does not validate is named in one line, not a traceback
        gate = build_report(Path.cwd(), args.base, args.out, args.params)
        verdict.append(gate)
        log.info("wrote %s: gate %s", args.out / "report.md", "passed" if gate.passed else "FAILED")
        for reason in gate.reasons:
            log.info("  %s", reason)

    code = cli.run("report", work)
    return code or (0 if verdict and verdict[0].passed else 1)


if __name__ == "__main__":
    raise SystemExit(main())
