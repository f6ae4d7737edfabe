"""One look for every figure: readable at the width a GitHub comment gives an image (about 800 px).

Axis numbers get thousands separators and never scientific notation, at most a handful of ticks
so that labels like 300,000 do not run into each other; axis titles carry the unit params.yaml
declares for the target.
"""

from __future__ import annotations

from pathlib import Path

WIDTH_INCHES = 8.0
DPI = 100  # 8 in x 100 dpi = 800 px: shown at its own size in a PR comment, not shrunk
BASE_COLOUR, PR_COLOUR = "#8c8c8c", "#1f77b4"


def pyplot():
    """matplotlib's pyplot without a display."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 9, "figure.dpi": DPI})
    return plt


def tick_label(value: float, _position=None) -> str:
    """-300,000 / 2.5 / 0.04: thousands separators, no exponent."""
    if value == 0:
        return "0"  # not "-0"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.6g}"


def readable(axis, *, which: str = "both", ticks: int = 6) -> None:
    """Thousands separators and at most `ticks` ticks on the numeric axes of `axis`."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for name in ("x", "y") if which == "both" else (which,):
        target = axis.xaxis if name == "x" else axis.yaxis
        target.set_major_locator(MaxNLocator(nbins=ticks, steps=[1, 2, 2.5, 5, 10]))
        target.set_major_formatter(FuncFormatter(tick_label))


def with_unit(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path
