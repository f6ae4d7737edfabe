"""Hyperparameter sweeps as DVC experiments: run a small grid, rank it by the gated metric, apply the best.

    python -m mlops.sweep                       the grid in params.yaml's `sweep` section (make sweep)
    python -m mlops.sweep --set "model.params.learning_rate=0.05,0.1 model.params.max_iter=100,200"
    python -m mlops.sweep --apply               then apply the best experiment (make sweep APPLY=1)
    python -m mlops.sweep --no-run --apply      apply the best experiment already run (make sweep-apply)

Every grid point is validated like params.yaml (config and model hyperparameters) before anything
runs. Then each one is a `dvc exp run --temp`, one after another: in a temporary copy of the
repository, so the workspace is untouched (git status stays clean) until --apply, and nothing
depends on DVC's background queue workers. Each experiment's training run is logged to MLflow as
any `dvc repro` is. The table is `dvc exp show`, sorted by the metric the quality gate judges.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import logging
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mlops import cli
from mlops.config import Config, ConfigError, load_config, parse_config, read_params
from mlops.metrics import METRICS

log = logging.getLogger(__name__)

Scalar = bool | int | float | str | None
DEFAULT_METRIC = "rmse"


@dataclass(frozen=True)
class Outcome:
    """One experiment from `dvc exp show`: its name and the gated metric (None if it has none)."""

    name: str
    value: float | None
    params: dict[str, object]  # params.yaml, flattened to dotted keys
    metrics: list[str]  # the names in its metrics file


def gated_metric(config: Config) -> tuple[str, bool]:
    """The metric the quality gate judges (`gate.metric`) and whether higher is better."""
    metric = METRICS[config.gate.metric]
    return metric.name, metric.higher_is_better


def parse_value(text: str) -> Scalar:
    """A command-line value as params.yaml would hold it: true/false, null, a number, else text."""
    special = {"true": True, "false": False, "null": None}
    if text in special:
        return special[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_assignments(texts: Iterable[str]) -> dict[str, list[Scalar]]:
    """`key=v1,v2` assignments (several per text, separated by spaces) -> {key: [v1, v2]}."""
    grid: dict[str, list[Scalar]] = {}
    for assignment in (part for text in texts for part in text.split()):
        key, sign, values = assignment.partition("=")
        if not sign or not key or not values or "" in values.split(","):
            raise ConfigError(f"--set {assignment!r}: expected <dotted.params.key>=<value>[,<value>...]")
        if key in grid:
            raise ConfigError(f"--set: {key} is given twice; list all its values once: {key}=v1,v2")
        grid[key] = [parse_value(value) for value in values.split(",")]
    return grid


def expand(grid: Mapping[str, list[Scalar]]) -> list[dict[str, Scalar]]:
    """Every combination of the grid's values (the first key varies slowest)."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def set_key(params: dict, key: str, value: Scalar) -> bool:
    """Set a dotted key in a params mapping; True if it existed. Its parent must be a mapping."""
    *parents, leaf = key.split(".")
    node = params
    for depth, part in enumerate(parents):
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: params.yaml has no mapping {'.'.join(parents[: depth + 1])}")
    existed = leaf in node
    node[leaf] = value
    return existed


def check_point(raw: dict, point: Mapping[str, Scalar], source: Path) -> list[str]:
    """Validate a grid point as params.yaml would be; return its `dvc exp run -S` overrides."""
    from mlops.features import build_pipeline  # scikit-learn checks the hyperparameters

    params = copy.deepcopy(raw)
    overrides = []
    for key, value in point.items():
        # Hydra, which applies -S, needs a leading + to add a key params.yaml does not have yet.
        prefix = "" if set_key(params, key, value) else "+"
        overrides.append(f"{prefix}{key}={hydra_value(value)}")
    try:
        build_pipeline(parse_config(params, source))
    except ConfigError as error:
        raise ConfigError(f"grid point {describe(point)}: {error}") from None
    return overrides


def hydra_value(value: Scalar) -> str:
    """A value in Hydra's override grammar (what `dvc exp run -S` parses)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    # Quoted, so that text such as "1", "true" or "a,b" stays text.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def describe(point: Mapping[str, Scalar]) -> str:
    return " ".join(f"{key}={value}" for key, value in point.items())


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _outcome(entry: Mapping, name: str, metrics_file: str, metric: str, params_file: str) -> Outcome:
    data = entry.get("data") or {}
    metrics = (((data.get("metrics") or {}).get(metrics_file) or {}).get("data")) or {}
    value = metrics.get(metric)
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    params = ((data.get("params") or {}).get(params_file) or {}).get("data") or {}
    return Outcome(
        name=name,
        value=float(value) if finite and entry.get("error") is None else None,
        params=flatten(params),
        metrics=sorted(key for key, item in metrics.items() if isinstance(item, int | float)),
    )


def read_experiments(
    show: list, metrics_file: str, metric: str, params_file: str = "params.yaml"
) -> tuple[Outcome | None, list[Outcome]]:
    """The baseline commit and the experiments derived from it, from `dvc exp show --json`."""
    commits = [entry for entry in show if entry.get("rev") != "workspace"]
    if not commits:
        return None, []
    head = commits[0]
    baseline = _outcome(head, head.get("name") or head["rev"][:7], metrics_file, metric, params_file)
    outcomes = []
    for experiment in head.get("experiments") or []:
        revs = experiment.get("revs") or []
        if revs:
            name = revs[0].get("name") or experiment.get("name") or revs[0]["rev"][:7]
            outcomes.append(_outcome(revs[0], name, metrics_file, metric, params_file))
    return baseline, outcomes


def rank(outcomes: Iterable[Outcome], higher_is_better: bool) -> list[Outcome]:
    """Best first by the gated metric; experiments without it (failed, still queued) last."""
    outcomes = list(outcomes)
    scored = sorted((o for o in outcomes if o.value is not None), key=lambda o: o.value, reverse=higher_is_better)
    return scored + [o for o in outcomes if o.value is None]


def choose(baseline: Outcome | None, outcomes: Iterable[Outcome], higher_is_better: bool) -> Outcome | None:
    """The experiment worth applying: the best, if it beats the baseline commit's own result.

    None when the commit's result is unknown (DVC's cache does not have it: `make pipeline`
    puts it there), since then the best experiment could still be worse than what is committed.
    """
    ranked = rank(outcomes, higher_is_better)
    if not ranked or ranked[0].value is None or baseline is None or baseline.value is None:
        return None
    best = ranked[0]
    return best if (best.value > baseline.value if higher_is_better else best.value < baseline.value) else None


def verdict(baseline: Outcome | None, outcomes: list[Outcome], metric: str, higher_is_better: bool) -> str:
    """One line: the best experiment against the baseline commit."""
    ranked = rank(outcomes, higher_is_better)
    if not ranked or ranked[0].value is None:
        return f"no experiment has a {metric}"
    top = f"{ranked[0].name} {_number(ranked[0].value)}"
    if baseline is None or baseline.value is None:
        name = baseline.name if baseline else "this commit"
        return f"best by {metric}: {top}; {name}'s own {metric} is unknown (run `make pipeline`), so none is applied"
    against = f"{baseline.name} {_number(baseline.value)}"
    if choose(baseline, outcomes, higher_is_better) is None:
        return f"no experiment beats {against} on {metric} (best: {top})"
    return f"best by {metric}: {top} (baseline {against})"


def varying_params(outcomes: Iterable[Outcome]) -> list[str]:
    """The params keys whose values differ between the experiments (the sweep's columns)."""
    outcomes = list(outcomes)
    keys = dict.fromkeys(key for outcome in outcomes for key in outcome.params)
    return [key for key in keys if len({json.dumps(o.params.get(key), default=str) for o in outcomes}) > 1]


def show_command(metrics_file: str, metric: str, higher_is_better: bool, metrics: list[str], params: list[str]) -> list:
    """`dvc exp show` as a Markdown table: experiment, time, metrics and the swept params, best first."""
    names = "|".join(re.escape(name) for name in metrics)
    keep = [r"^(Experiment|Created)$", rf"^({re.escape(metrics_file)}:)?({names})$"]
    if params:
        keep.append(rf"^(params\.yaml:)?({'|'.join(re.escape(key) for key in params)})$")
    return [
        "exp", "show", "--no-pager", "--md",
        "--sort-by", f"{metrics_file}:{metric}", "--sort-order", "desc" if higher_is_better else "asc",
        "--drop", ".*", "--keep", "|".join(keep),
    ]  # fmt: skip


def experiment_env(environ: Mapping[str, str], workspace: Path) -> dict[str, str]:
    """What each `dvc exp run --temp` runs with.

    Its temporary copy runs its own code (PYTHONPATH=src, relative to the copy), and MLflow's
    default local store is the workspace's mlflow.db, not one inside the copy that DVC deletes.
    """
    env = dict(environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, ["src", environ.get("PYTHONPATH")]))
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{(workspace / 'mlflow.db').resolve()}")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def _dvc(*args: str, env: Mapping[str, str], capture: bool = False) -> subprocess.CompletedProcess:
    """DVC from this environment (the train group's), whatever is first on PATH."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], env=env, text=True, capture_output=capture, check=False)


def keep_layout(path: Path, before: str) -> None:
    """Put the applied values back into params.yaml as it was laid out, comments and all.

    `dvc exp apply` writes the experiment's params.yaml, which DVC rewrote in block style (every
    [a, b] list over several lines): a noisy diff to review. The values are what count to DVC.
    """
    from ruamel.yaml import YAML  # DVC's YAML library: a round trip keeps comments and flow style

    applied, previous = flatten(yaml.safe_load(path.read_text(encoding="utf-8"))), flatten(yaml.safe_load(before))
    if set(previous) - set(applied):
        return  # a key went away: keep DVC's file rather than guess
    changed = {key: value for key, value in applied.items() if key not in previous or previous[key] != value}
    editor = YAML()  # round trip, as DVC edits params files
    editor.preserve_quotes = True  # "Price (€)" stays quoted as written: no diff on untouched lines
    editor.width = 4096  # and no long line is wrapped
    params = editor.load(before)
    for key, value in changed.items():
        set_key(params, key, value)
    buffer = io.StringIO()
    editor.dump(params, buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def run_grid(
    points: list[dict[str, Scalar]], overrides: list[list[str]], params_file: str, env: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """Each point as one `dvc exp run --temp`, in turn: the names that ran and those that failed."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    prefix = "" if Path(params_file) == Path("params.yaml") else f"{params_file}:"
    ran, failed = [], []
    log.info("%d experiments, one after another (each in a temporary copy of the repository)", len(points))
    for number, (point, sets) in enumerate(zip(points, overrides, strict=True), start=1):
        name = f"sweep-{stamp}-{number}"
        log.info("experiment %d/%d %s: %s", number, len(points), name, describe(point))
        setters = [item for override in sets for item in ("--set-param", prefix + override)]
        if _dvc("exp", "run", "--temp", "--name", name, *setters, env=env).returncode == 0:
            ran.append(name)
        else:
            failed.append(f"{name} ({describe(point)})")
    return ran, failed


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a grid axis (dotted params.yaml key and its values); several, space-separated, are allowed. "
        "Given any, they replace params.yaml's `sweep` section",
    )
    parser.add_argument("--apply", action="store_true", help="apply the best experiment to the workspace")
    parser.add_argument("--no-run", action="store_true", help="run nothing; rank the experiments already run")
    args = parser.parse_args(argv)

    def work() -> None:
        config = load_config(args.params)
        metric, higher_is_better = gated_metric(config)
        metrics_file = Path(config.paths.metrics).as_posix()
        env = experiment_env(os.environ, Path.cwd())
        ran, failed = [], []
        if not args.no_run:
            grid = parse_assignments(args.set) if "".join(args.set).strip() else dict(config.sweep)
            if not grid:
                raise ConfigError("sweep: no grid; add a `sweep` section to params.yaml or pass --set key=v1,v2")
            points = expand(grid)
            raw = read_params(args.params)
            overrides = [check_point(raw, point, args.params) for point in points]  # all valid before any runs
            ran, failed = run_grid(points, overrides, Path(args.params).as_posix(), env)

        listing = _dvc("exp", "show", "--json", env=env, capture=True)
        if listing.returncode != 0:
            raise cli.StageError(f"dvc exp show failed: {listing.stderr.strip()}")
        params_file = Path(args.params).as_posix()
        baseline, outcomes = read_experiments(json.loads(listing.stdout), metrics_file, metric, params_file)
        if not args.no_run:
            outcomes = [outcome for outcome in outcomes if outcome.name in ran]
        if outcomes:
            shown = sorted({metric, *(name for outcome in outcomes for name in outcome.metrics)})
            columns = varying_params([*([baseline] if baseline else []), *outcomes])
            _dvc(*show_command(metrics_file, metric, higher_is_better, shown, columns), env=env)
            log.info(verdict(baseline, outcomes, metric, higher_is_better))
        if failed:
            raise cli.StageError(f"{len(failed)} experiment(s) failed (their output is above): {', '.join(failed)}")
        if not outcomes:
            raise cli.StageError("no experiments from this commit to rank: run `make sweep` first")
        best = choose(baseline, outcomes, higher_is_better)
        if best is None:
            log.info("nothing to apply: the workspace stays as it is")
        elif not args.apply:
            log.info("apply it with `make sweep-apply` (dvc exp apply %s)", best.name)
        else:
            before = Path(args.params).read_text(encoding="utf-8")
            if _dvc("exp", "apply", best.name, env=env).returncode != 0:
                raise cli.StageError(f"dvc exp apply {best.name} failed (its output is above)")
            keep_layout(Path(args.params), before)
            log.info("applied %s to the workspace: review `git diff`, then commit params.yaml and dvc.lock", best.name)

    return cli.run("sweep", work)


def _number(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


if __name__ == "__main__":
    sys.exit(main())
