"""Paired bootstrap: is the change between two models' scores on the same rows real, or noise?

Both models predicted the same test rows. Each resample draws the rows with replacement and
scores both models on that draw, so the spread of (new - base) over the resamples is the
uncertainty of the change itself, not of either score: a change far smaller than either
model's own interval can still be significant. The interval is the percentile interval of the
resampled changes; a change is "better" or "worse" only when that interval excludes zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mlops.config import BootstrapConfig
from mlops.metrics import METRICS, Scored

BETTER, WORSE, NOISE = "better", "worse", "within noise"
# Row counts held in memory at once: resamples are drawn in chunks of about this many counts.
CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class Change:
    """One metric, base against new on the same rows."""

    metric: str
    base: float
    new: float
    low: float | None = None  # the interval of (new - base), in the metric's units
    high: float | None = None
    pct_low: float | None = None  # the interval of the change in percent of base
    pct_high: float | None = None
    rows: int = 0

    @property
    def delta(self) -> float:
        return self.new - self.base

    @property
    def pct(self) -> float | None:
        return 100 * self.delta / abs(self.base) if self.base else None

    @property
    def worse_pct(self) -> float | None:
        """How much worse new is, in percent of base (negative: better)."""
        return 100 * METRICS[self.metric].worse_by(self.base, self.new) / abs(self.base) if self.base else None

    @property
    def has_interval(self) -> bool:
        return None not in (self.low, self.high, self.pct_low, self.pct_high)

    @property
    def verdict(self) -> str | None:
        """better, worse or within noise; None without an interval."""
        if not self.has_interval:
            return None
        if self.low <= 0 <= self.high:
            return NOISE
        increased = self.low > 0
        return BETTER if increased == METRICS[self.metric].higher_is_better else WORSE


def resample_counts(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """How often each row is drawn, per resample, in chunks of (resamples, rows) float arrays.

    The stream depends on the seed only, not on the chunk size.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, CHUNK_CELLS // max(rows, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        drawn = rng.integers(0, rows, size=(size, rows))
        offsets = (np.arange(size) * rows)[:, None]
        yield np.bincount((drawn + offsets).ravel(), minlength=size * rows).reshape(size, rows).astype(float)
        done += size


def paired(names: list[str], base: Scored, new: Scored, settings: BootstrapConfig) -> dict[str, Change]:
    """Each named metric of both models on the same rows, with the interval of its change.

    A metric undefined on these rows for either model is left out; one whose resamples are mostly
    undefined (a class too rare to appear in most draws) gets no interval.
    """
    rows = len(base.y_true)
    if len(new.y_true) != rows:
        raise ValueError(f"paired bootstrap needs the same rows: base has {rows}, new has {len(new.y_true)}")
    points = {}
    for name in names:
        old_value, new_value = (METRICS[name].compute(side) for side in (base, new))
        if old_value is not None and new_value is not None and np.isfinite([old_value, new_value]).all():
            points[name] = (old_value, new_value)
    if not points or rows < 2:
        return {name: Change(name, old, value, rows=rows) for name, (old, value) in points.items()}
    changes: dict[str, list[np.ndarray]] = {name: [] for name in points}
    relative: dict[str, list[np.ndarray]] = {name: [] for name in points}
    for counts in resample_counts(rows, settings.resamples, settings.seed):
        for name in points:
            old, value = _value(name, base, counts), _value(name, new, counts)
            changes[name].append(value - old)
            with np.errstate(divide="ignore", invalid="ignore"):
                relative[name].append(100 * (value - old) / np.abs(old))
    tail = 100 * (1 - settings.confidence) / 2
    result = {}
    for name, (old, value) in points.items():
        low, high = _percentiles(np.concatenate(changes[name]), tail)
        pct_low, pct_high = _percentiles(np.concatenate(relative[name]), tail)
        result[name] = Change(name, old, value, low, high, pct_low, pct_high, rows)
    return result


def _value(name: str, scored: Scored, counts: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return METRICS[name].resampled(scored, counts)


def _percentiles(values: np.ndarray, tail: float) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) < len(values) / 2:
        return None, None
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
