"""The pull-request report: this branch's pipeline results against its base branch's.

`python -m mlops.gitops.report --base origin/main` (make ci-report) expects `dvc repro` to have run in
the working tree. It reproduces the base branch in a temporary git worktree that shares DVC's
cache (unchanged stages come back from DVC's run-cache instead of being retrained), then writes
`report.md` with the metric deltas, the params diff, before/after figures, data and model hash
changes and the quality-gate verdict. Exit code 1 when the gate fails (the report is written
either way). CML posts report.md as the PR comment; CI puts summary.md (the same, figures by name) in the job summary.

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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlops import cli
from mlops.bundle import read_run_record
from mlops.config import DEFAULT_PARAMS
from mlops.metrics import HIGHER_IS_BETTER, METRICS, shown

log = logging.getLogger(__name__)
MARKER = "<!-- mlops-template: model report -->"


@dataclass
class Results:
    """What one side (base or PR) produced."""

    label: str
    commit: str
    params: dict
    metrics: dict[str, float] | None = None
    data_md5: str | None = None
    train_sha256: str | None = None
    model_version: str | None = None
    run_url: str | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    note: str | None = None  # why results are missing, when they are


@dataclass(frozen=True)
class Gate:
    passed: bool
    reasons: list[str]
    source: str  # which branch's params.yaml set the thresholds
    note: str | None = None  # why the usual rule (the base's thresholds) did not apply


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
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


def collect(root: Path, label: str, commit: str) -> Results:
    """Read a working tree's params and pipeline outputs (after `dvc repro`)."""
    params = yaml.safe_load((root / DEFAULT_PARAMS).read_text(encoding="utf-8")) or {}
    paths = {key: root / value for key, value in (params.get("paths") or {}).items()}
    results = Results(label=label, commit=commit, params=params)
    results.metrics = _read_json(paths["metrics"]) if "metrics" in paths else None
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
    figures_dir = paths.get("figures")
    if figures_dir and figures_dir.is_dir():
        results.figures = {path.name: path for path in sorted(figures_dir.glob("*.png"))}
    if results.metrics is None:
        results.note = "no metrics: the pipeline has not been reproduced here"
    return results


def reproduce_base(root: Path, ref: str, out: Path) -> Results:
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
        (workdir / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {(root / '.dvc' / 'cache').resolve()}\n")
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
        results = collect(workdir, ref, commit)
        results.figures = _copy_figures(results.figures, out, "base")
        return results
    except subprocess.CalledProcessError as error:
        return Results(label=ref, commit=commit, params=params, note=f"no worktree for `{ref}`: {error.stderr.strip()}")
    except OSError as error:  # e.g. dvc not on PATH
        return Results(label=ref, commit=commit, params=params, note=f"cannot reproduce `{ref}`: {error}")
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(workdir)], cwd=root, capture_output=True, check=False
        )
        shutil.rmtree(workdir.parent, ignore_errors=True)


def _copy_figures(figures: dict[str, Path], out: Path, prefix: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    copied = {}
    for name, path in figures.items():
        target = out / f"{prefix}-{name}"
        shutil.copyfile(path, target)
        copied[name] = target
    return copied


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
    """A params.yaml `gate` section as {metric, threshold, max_regression_pct}; a base branch from
    before `gate.metric` (max_rmse, max_rmse_increase_pct) reads as the same RMSE gate."""
    gate = dict(params.get("gate") or {})
    if "metric" not in gate and ("max_rmse" in gate or "max_rmse_increase_pct" in gate):
        return {
            "metric": "rmse",
            "threshold": gate.get("max_rmse"),
            "max_regression_pct": gate.get("max_rmse_increase_pct"),
        }
    return gate


def quality_gate(base: Results, current: Results) -> Gate:
    """Fail when the gated metric is worse than its threshold, or worse than base by more than the allowance.

    Thresholds come from the base branch when it has them: a PR cannot loosen its own gate.
    """
    base_gate = gate_settings(base.params)
    source, gate = (base.label, base_gate) if base_gate else (current.label, gate_settings(current.params))
    note = None
    task, base_task = _task(current.params), _task(base.params)
    if base_gate and task != base_task:
        # The base's metric does not exist for this task: only this branch's gate can judge it.
        source, gate = current.label, gate_settings(current.params)
        note = f"this PR changes data.task from {base_task} to {task}: its own gate applies (review it)"
    name = gate.get("metric")
    metric = METRICS.get(name)
    if metric is None:
        return Gate(False, [f"`gate.metric` {name!r} in {source}'s params.yaml is not a known metric"], source, note)
    reasons: list[str] = []
    value = (current.metrics or {}).get(name)
    if not _finite(value):
        return Gate(False, [f"this branch produced no finite {name} (got {value!r})"], source, note)
    threshold = gate.get("threshold")
    if _finite(threshold) and metric.worse_by(threshold, value) > 0:
        reasons.append(f"{name} {_number(value, name)} is worse than the threshold {_number(threshold, name)}")
    allowance = gate.get("max_regression_pct")
    old = (base.metrics or {}).get(name) if note is None else None
    if _finite(allowance) and _finite(old) and old != 0:
        worse_pct = 100 * metric.worse_by(old, value) / abs(old)
        if worse_pct > allowance:
            reasons.append(f"{name} is {worse_pct:.2f}% worse than {base.label} (allowed: {allowance}%)")
    return Gate(not reasons, reasons, source, note)


def _task(params: dict) -> str:
    return (params.get("data") or {}).get("task") or "regression"


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object, metric: str = "") -> str:
    if value is None:
        return "-"
    if not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    return shown(value)


def _metric_rows(base: Results, current: Results) -> list[str]:
    rows = ["| metric | base | this PR | change | % |", "| --- | ---: | ---: | ---: | ---: |"]
    present = set(current.metrics or {}) | set(base.metrics or {})
    names = [name for name in METRICS if name in present] + sorted(present - set(METRICS))
    for name in names:
        old = (base.metrics or {}).get(name)
        new = (current.metrics or {}).get(name)
        numbers = all(isinstance(v, int | float) and math.isfinite(v) for v in (old, new))
        if not numbers:
            rows.append(f"| {name} | {_number(old, name)} | {_number(new, name)} | | |")
            continue
        delta = new - old
        pct = f"{100 * delta / abs(old):+.2f}%" if old else "-"
        better = (delta > 0) == HIGHER_IS_BETTER.get(name, False)
        mark = "" if delta == 0 else (" 🟢" if better else " 🔴")
        sign = "+" if delta > 0 else ""
        change = "0" if delta == 0 else f"{sign}{_number(delta, name)}{mark}"
        rows.append(f"| {name} | {_number(old, name)} | {_number(new, name)} | {change} | {pct} |")
    return rows


def _changed(old: str | None, new: str | None) -> str:
    if old == new:
        return f"unchanged (`{(new or '-')[:12]}`)"
    return f"`{(old or '-')[:12]}` → `{(new or '-')[:12]}`"


def render(base: Results, current: Results, gate: Gate, out: Path) -> str:
    verdict = "✅ **Quality gate passed**" if gate.passed else "❌ **Quality gate failed**: " + "; ".join(gate.reasons)
    lines = [
        MARKER,
        f"## Model report: `{current.label}` vs `{base.label}`",
        "",
        verdict,
        f"<sub>thresholds from `{gate.source}`'s params.yaml (`gate`); base `{base.commit[:12]}`, "
        f"this PR `{current.commit[:12]}`</sub>",
        "",
    ]
    if gate.note:
        lines += [f"> ⚠️ {gate.note}.", ""]
    if base.note:
        lines += [f"> Base results unavailable: {base.note}. Only the absolute limit applies.", ""]
    lines += ["### Metrics (test split)", "", *_metric_rows(base, current), ""]
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
        f"- model version: {_changed(base.model_version, current.model_version)}",
    ]
    if current.run_url:
        lines.append(f"- MLflow run: [{current.model_version}]({current.run_url})")
    names = sorted(set(base.figures) | set(current.figures))
    if names:
        lines += ["", "### Figures", "", "| base | this PR |", "| --- | --- |"]
        for name in names:
            cells = [
                f"![{side} {name}]({side_figures[name].relative_to(out)})" if name in side_figures else "-"
                for side, side_figures in (("base", base.figures), ("PR", current.figures))
            ]
            lines.append(f"| {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def for_job_summary(report: str) -> str:
    """The report for a job summary, which cannot show local images: each figure becomes its name."""
    return re.sub(r"!\[([^\]]*)\]\([^)\s]+\.png\)", r"\1 (figure: PR comment, `pr-report` artifact)", report)


def build_report(root: Path, base_ref: str, out: Path) -> Gate:
    """Write out/report.md (and the figures it shows) and out/gate.json; return the verdict."""
    out.mkdir(parents=True, exist_ok=True)
    # In CI the checkout is detached; GitHub names the PR's branch in GITHUB_HEAD_REF.
    label = os.environ.get("GITHUB_HEAD_REF") or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    current = collect(root, label, _git(root, "rev-parse", "HEAD"))
    current.figures = _copy_figures(current.figures, out, "pr")
    base = reproduce_base(root, base_ref, out)
    gate = quality_gate(base, current)
    text = render(base, current, gate, out)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "summary.md").write_text(for_job_summary(text), encoding="utf-8")
    (out / "gate.json").write_text(json.dumps({"passed": gate.passed, "reasons": gate.reasons}, indent=2) + "\n")
    return gate


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main", help="base revision to compare with (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("ci-report"), help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    verdict: list[Gate] = []

    def work() -> None:
        gate = build_report(Path.cwd(), args.base, args.out)
        verdict.append(gate)
        log.info("wrote %s: gate %s", args.out / "report.md", "passed" if gate.passed else "FAILED")
        for reason in gate.reasons:
            log.info("  %s", reason)

    code = cli.run("report", work)
    return code or (0 if verdict and verdict[0].passed else 1)


if __name__ == "__main__":
    raise SystemExit(main())
