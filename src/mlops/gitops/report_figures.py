"""The PR report's figures: base and PR on the same axes, readable at a comment's ~800 px.

Drawn from both sides' per-row scores (or, for a base from before them, its plot sample) and
permutation importance. Regression: overlaid residual distributions, predicted vs actual with
shared limits, importance as paired bars. Classification: confusion matrices side by side on one
colour scale, calibration (and, binary, ROC and precision-recall) curves on one axes, importance.
Files are named `pr-*.png`: the only images mlops.gitops.pr_comment lets the comment show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops import plotting
from mlops.gitops import comparison
from mlops.metrics import METRICS, shown

SCATTER_POINTS = 2000  # rows drawn per scatter: the shape shows, the file stays small


@dataclass(frozen=True)
class Drawn:
    """One side's data for the figures."""

    label: str
    rows: pd.DataFrame  # actual, predicted, and residual or p_<class> columns
    importance: pd.DataFrame | None  # feature, importance, std


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


def draw(
    base: Drawn | None,
    new: Drawn,
    out: Path,
    *,
    task: str,
    target: str,
    unit: str | None,
    metric: str,
) -> list[Figure]:
    """Every comparison figure for the task, written into `out`."""
    plt = plotting.pyplot()
    out.mkdir(parents=True, exist_ok=True)
    sides = [side for side in (base, new) if side is not None]
    try:
        if task == "classification":
            figures = _classification(plt, sides, out, target)
        else:
            figures = _regression(plt, sides, out, target, unit)
        with_importance = [side for side in sides if side.importance is not None and len(side.importance)]
        if with_importance:
            figures.append(_importance(plt, with_importance, out, metric))
    finally:
        plt.close("all")
    return figures


def _colours(sides: list[Drawn]) -> list[str]:
    return [plotting.BASE_COLOUR, plotting.PR_COLOUR][-len(sides) :]


def _regression(plt, sides: list[Drawn], out: Path, target: str, unit: str | None) -> list[Figure]:
    residuals = [side.rows["predicted"].to_numpy(float) - side.rows["actual"].to_numpy(float) for side in sides]
    low, high = np.percentile(np.concatenate(residuals), [0.5, 99.5])
    bins = np.linspace(low, high, 61)
    fig, ax = plt.subplots(figsize=(plotting.WIDTH_INCHES, 3.8))
    for side, values, colour in zip(sides, residuals, _colours(sides), strict=True):
        rmse = float(np.sqrt(np.mean(values**2)))
        name = f"{side.label} (RMSE {shown(rmse)})"
        clipped = np.clip(values, low, high)  # the tails land in the end bins, not off the axis
        share = np.full(len(values), 100 / len(values))  # percent: sides with other row counts compare
        if colour == plotting.BASE_COLOUR and len(sides) > 1:
            ax.hist(clipped, bins=bins, weights=share, color=colour, alpha=0.45, label=name)
        else:
            ax.hist(clipped, bins=bins, weights=share, histtype="step", linewidth=1.8, color=colour, label=name)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(
        xlabel=plotting.with_unit(f"residual: predicted - actual {target}", unit),
        ylabel="% of test rows",
        title="Residual distribution (rows beyond the middle 99% in the end bins)",
    )
    ax.legend(loc="upper right")
    plotting.readable(ax)
    figures = [Figure(plotting.save(fig, out / "pr-residuals.png"), "Residuals, both models on one axis")]

    fig, axes = plt.subplots(1, len(sides), figsize=(plotting.WIDTH_INCHES, 4.4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    values = np.concatenate([side.rows[["actual", "predicted"]].to_numpy(float).ravel() for side in sides])
    limits = (float(values.min()), float(values.max()))
    lines = {}
    for ax, side, colour in zip(axes, sides, _colours(sides), strict=True):
        rows = side.rows if len(side.rows) <= SCATTER_POINTS else side.rows.sample(SCATTER_POINTS, random_state=0)
        ax.scatter(rows["actual"], rows["predicted"], s=3, alpha=0.25, color=colour)
        lines[side.label] = _binned_median(side.rows)
        ax.plot(limits, limits, color="black", linewidth=0.8)
        ax.set(title=side.label, xlabel=plotting.with_unit(f"actual {target}", unit), xlim=limits, ylim=limits)
        plotting.readable(ax, ticks=4)
    for ax in axes:
        for (label, (x, y)), colour in zip(lines.items(), _colours(sides), strict=True):
            ax.plot(
                x,
                y,
                color="black" if colour == plotting.PR_COLOUR else "#555555",
                linewidth=1.5,
                linestyle="-" if colour == plotting.PR_COLOUR else "--",
                label=f"{label}: median per bin",
            )
    axes[0].set_ylabel(plotting.with_unit(f"predicted {target}", unit))
    axes[-1].legend(loc="upper left")
    fig.suptitle("Predicted vs actual (same limits; the line is the median prediction per actual-value bin)")
    figures.append(Figure(plotting.save(fig, out / "pr-predicted_vs_actual.png"), "Predicted vs actual"))
    return figures


def _binned_median(rows: pd.DataFrame, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    actual, predicted = rows["actual"].to_numpy(float), rows["predicted"].to_numpy(float)
    edges = np.unique(np.quantile(actual, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, actual, side="right") - 1, 0, len(edges) - 2)
    centres, medians = [], []
    for index in range(len(edges) - 1):
        chosen = which == index
        if chosen.any():
            centres.append(float(np.median(actual[chosen])))
            medians.append(float(np.median(predicted[chosen])))
    return np.asarray(centres), np.asarray(medians)


def _importance(plt, sides: list[Drawn], out: Path, metric: str) -> Figure:
    newest = sides[-1].importance.set_index("feature")
    features = list(newest.sort_values("importance").index)
    for side in sides[:-1]:
        features = [name for name in side.importance["feature"] if name not in newest.index] + features
    height = 0.8 / len(sides)
    fig, ax = plt.subplots(figsize=(plotting.WIDTH_INCHES, 0.32 * len(sides) * len(features) + 1.4))
    positions = np.arange(len(features))
    for index, (side, colour) in enumerate(zip(sides, _colours(sides), strict=True)):
        table = side.importance.set_index("feature").reindex(features)
        offset = (index - (len(sides) - 1) / 2) * height
        ax.barh(
            positions - offset,
            table["importance"].fillna(0),
            height=height,
            xerr=table["std"].fillna(0) if "std" in table else None,
            color=colour,
            label=side.label,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_yticks(positions, features)
    ax.axvline(0, color="black", linewidth=0.8)
    better = "lower" if METRICS[metric].higher_is_better else "higher"
    ax.set(
        xlabel=f"{metric} change when the feature is shuffled ({better} {metric} = worse)",
        title="Permutation importance (test split)",
    )
    ax.legend(loc="lower right")  # base first, as its bar is the upper one of each pair
    plotting.readable(ax, which="x")
    return Figure(plotting.save(fig, out / "pr-importance.png"), "Permutation importance, paired bars")


def _classification(plt, sides: list[Drawn], out: Path, target: str) -> list[Figure]:
    classes = comparison.classes_of(sides[-1].rows)
    scored = [comparison.scored(side.rows, "classification", classes) for side in sides]
    figures = [_confusion(plt, sides, scored, out, target), _calibration(plt, sides, scored, out, target)]
    if len(classes) == 2 and all(len(set(s.y_true)) == 2 for s in scored):
        figures.append(_roc_pr(plt, sides, scored, out, target))
    return figures


def _confusion(plt, sides, scored, out: Path, target: str) -> Figure:
    classes = scored[-1].classes
    fig, axes = plt.subplots(
        1,
        len(sides),
        figsize=(plotting.WIDTH_INCHES, 0.45 * plotting.WIDTH_INCHES + 0.12 * len(classes)),
        layout="constrained",
    )
    axes = np.atleast_1d(axes)
    image = None
    for ax, side, scores in zip(axes, sides, scored, strict=True):
        true, predicted = (
            np.asarray(v, dtype=object)[:, None] == np.asarray(classes, dtype=object)
            for v in (scores.y_true, scores.y_pred)
        )
        counts = true.T.astype(float) @ predicted.astype(float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(shares, vmin=0, vmax=1, cmap="Blues")
        if len(classes) <= 12:
            for (i, j), share in np.ndenumerate(shares):
                ax.text(
                    j,
                    i,
                    f"{share:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share > 0.6 else "black",
                )
        ticks = np.arange(len(classes))
        rotation = 45 if len(classes) > 4 or max(map(len, classes)) > 6 else 0
        ax.set_xticks(ticks, classes, rotation=rotation, ha="right" if rotation else "center")
        ax.set_yticks(ticks, classes)
        ax.set(title=side.label, xlabel=f"predicted {target}")
    axes[0].set_ylabel(f"actual {target}")
    for ax in axes[1:]:  # the rows are the same classes: name them once
        ax.tick_params(labelleft=False)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label=f"share of each actual {target}")
    fig.suptitle("Confusion matrices (same colour scale)")
    path = out / "pr-confusion_matrix.png"
    fig.savefig(path, dpi=plotting.DPI)
    return Figure(path, "Confusion matrices")


def _calibration(plt, sides, scored, out: Path, target: str) -> Figure:
    from sklearn.calibration import calibration_curve

    binary = len(scored[-1].classes) == 2
    fig, ax = plt.subplots(figsize=(plotting.WIDTH_INCHES, 4.6))
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle=":", label="perfectly calibrated")
    for side, scores, colour in zip(sides, scored, _colours(sides), strict=True):
        if binary:
            hits, confidence = scores.y_true == scores.classes[1], scores.probabilities[:, 1]
        else:  # top-label: is the model as often right as it is confident?
            hits, confidence = scores.y_true == scores.y_pred, scores.probabilities.max(axis=1)
        observed, predicted = calibration_curve(hits.astype(int), confidence, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", color=colour, label=side.label)
    what = f"P({target} = {scored[-1].classes[1]})" if binary else "probability of the most probable class"
    ax.set(
        xlabel=f"predicted {what}",
        ylabel="observed share",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Calibration (10 bins of equal size)",
    )
    ax.legend(loc="upper left")
    return Figure(plotting.save(fig, out / "pr-calibration.png"), "Calibration")


def _roc_pr(plt, sides, scored, out: Path, target: str) -> Figure:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    positive = scored[-1].classes[1]
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(plotting.WIDTH_INCHES, 4))
    roc.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle=":")
    for side, scores, colour in zip(sides, scored, _colours(sides), strict=True):
        hits = scores.y_true == positive
        fpr, tpr, _ = roc_curve(hits, scores.probabilities[:, 1])
        roc.plot(fpr, tpr, color=colour, label=f"{side.label} (AUC {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(hits, scores.probabilities[:, 1])
        pr.plot(recall, precision, color=colour, label=side.label)
    prevalence = float(np.mean(scored[-1].y_true == positive))
    pr.axhline(prevalence, color="black", linewidth=0.8, linestyle=":")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC ({target} = {positive})")
    pr.set(xlabel="recall", ylabel="precision", title=f"Precision-recall ({target} = {positive})", ylim=(0, 1.02))
    roc.legend(loc="lower right")
    pr.legend(loc="lower left")
    return Figure(plotting.save(fig, out / "pr-roc.png"), "ROC and precision-recall")
