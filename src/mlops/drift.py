"""Data drift: a reference profile of the training data, and how far recent data is from it.

Per feature (and for the predictions): the population stability index (PSI) over the
reference's bins, with missing values as a bin of their own (quantile bins for numbers, one bin
per category), plus a two-sample Kolmogorov-Smirnov test for numbers and a chi-square test for
categories (scipy). Used by train
(the profile), the API (/monitoring/drift) and `make monitor`; numpy/scipy/pandas only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops.config import MonitorConfig
from mlops.schema import FeatureSchema

if TYPE_CHECKING:  # pandas and scipy load on the first assessment: a server is ready without them
    import pandas as pd

PREDICTION = "prediction"
# Empty bins would make PSI infinite; this floor is the usual smoothing.
SHARE_FLOOR = 1e-4


def _numeric_profile(values: np.ndarray, config: MonitorConfig, rng: np.random.Generator) -> dict:
    present = values[~np.isnan(values)]
    quantiles = np.quantile(present, np.linspace(0, 1, config.bins + 1)[1:-1]) if present.size else np.array([])
    edges = np.unique(quantiles)
    sample = rng.choice(present, size=min(config.reference_sample, present.size), replace=False)
    return {
        "type": "numeric",
        "edges": edges.tolist(),
        "shares": numeric_shares(values, edges).tolist(),
        "sample": np.round(np.sort(sample), 4).tolist(),
    }


def _categorical_profile(values: pd.Series, categories: list[str]) -> dict:
    return {"type": "categorical", "categories": categories, "shares": categorical_shares(values, categories).tolist()}


def numeric_shares(values: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    """Shares per bin (below the first edge ... above the last), then the missing share."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(np.asarray(edges), values[~missing], side="right"), minlength=len(edges) + 1)
    return np.append(counts, missing.sum()) / max(len(values), 1)


def categorical_shares(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Shares per known category, then anything else, then missing."""
    import pandas as pd

    values = pd.Series(values, dtype=object)
    missing = values.isna()
    known = values[~missing]
    counts = [int((known == category).sum()) for category in categories]
    other = len(known) - sum(counts)
    return np.array([*counts, other, int(missing.sum())]) / max(len(values), 1)


def build_reference(
    features: pd.DataFrame,
    predictions: np.ndarray,
    schema: FeatureSchema,
    config: MonitorConfig,
    classes: list | None = None,
) -> dict:
    """The training data's profile, saved next to the model (paths.reference). With `classes`
    (classification), predictions are labels and profiled as categories."""
    rng = np.random.default_rng(config.seed)
    profiles = {}
    for spec in schema.features:
        if spec.type == "numeric":
            profiles[spec.name] = _numeric_profile(features[spec.name].to_numpy(dtype=float), config, rng)
        else:
            profiles[spec.name] = _categorical_profile(features[spec.name], list(spec.categories or []))
    if classes is None:
        profiles[PREDICTION] = _numeric_profile(np.asarray(predictions, dtype=float), config, rng)
    else:
        profiles[PREDICTION] = _categorical_profile(label_strings(predictions), [str(c) for c in classes])
    return {"rows": len(features), "features": profiles}


def label_strings(labels) -> pd.Series:
    """Predicted labels as text, the form categorical profiles compare (a label may be an int)."""
    import pandas as pd

    return pd.Series([None if label is None else str(label) for label in labels], dtype=object)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (actual - expected) * ln(actual / expected)."""
    expected = np.clip(np.asarray(expected, dtype=float), SHARE_FLOOR, None)
    actual = np.clip(np.asarray(actual, dtype=float), SHARE_FLOOR, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    type: str
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    missing_share: float
    pvalue: float | None  # this feature's test: the KS test's for a number, the chi-square test's for categories
    reference_missing_share: float
    drifted: bool


def feature_drift(name: str, profile: dict, values, config: MonitorConfig) -> FeatureDrift:
    statistic = ks_pvalue = chi2_pvalue = None
    if profile["type"] == "numeric":
        current = numeric_shares(values, profile["edges"])
        present = np.asarray(values, dtype=float)
        present = present[~np.isnan(present)]
        if present.size and profile["sample"]:
            from scipy import stats

            result = stats.ks_2samp(profile["sample"], present)
            statistic, ks_pvalue = float(result.statistic), float(result.pvalue)
    else:
        current = categorical_shares(values, profile["categories"])
        chi2_pvalue = chi_square_pvalue(profile["shares"], current, len(values))
    index = psi(profile["shares"], current)
    # With many categories and a few hundred rows, PSI is well above zero by chance alone (about
    # (categories - 1) / rows): a category's PSI counts only when its shares differ beyond chance.
    drifted = index > config.psi_threshold and (chi2_pvalue is None or chi2_pvalue < config.ks_alpha)
    drifted = drifted or (ks_pvalue is not None and ks_pvalue < config.ks_alpha)
    return FeatureDrift(
        name=name,
        type=profile["type"],
        psi=round(index, 6),
        ks_statistic=None if statistic is None else round(statistic, 6),
        ks_pvalue=ks_pvalue,
        missing_share=float(current[-1]),
        pvalue=ks_pvalue if chi2_pvalue is None else chi2_pvalue,
        reference_missing_share=float(profile["shares"][-1]),
        drifted=bool(drifted),
    )


def drift_rule(psi_threshold: float, alpha: float) -> str:
    """When a feature has drifted, in words (for the reports)."""
    return (
        f"PSI > {psi_threshold} (for categories, when a chi-square test also gives p < {alpha}: many categories "
        f"and few rows make PSI high by chance) or, for numbers, the KS test's p < {alpha}"
    )


def chi_square_pvalue(reference: np.ndarray, current: np.ndarray, rows: int) -> float:
    """Chi-square goodness of fit: how likely `rows` rows of the reference's shares would be as far
    from them as `current` is (1.0 for no rows)."""
    if rows == 0:
        return 1.0
    from scipy import stats

    expected = np.clip(np.asarray(reference, dtype=float), SHARE_FLOOR, None)
    expected = expected / expected.sum() * rows
    observed = np.asarray(current, dtype=float) * rows
    observed = observed / observed.sum() * rows  # the shares' rounding must not change the total
    return float(stats.chisquare(observed, expected).pvalue)


def assess(reference: dict, features: pd.DataFrame, predictions, config: MonitorConfig) -> dict:
    """Drift of each feature and of the predictions, and one verdict: ok, drift or insufficient_data."""
    rows = len(features)
    result: dict = {
        "verdict": "insufficient_data",
        "rows": rows,
        "min_rows": config.min_window,
        "thresholds": {"psi": config.psi_threshold, "ks_alpha": config.ks_alpha},
        "features": [],
        "prediction": None,
    }
    if rows < config.min_window:
        return result
    profiles = reference["features"]
    scored = [
        feature_drift(name, profile, features[name], config) for name, profile in profiles.items() if name != PREDICTION
    ]
    profile = profiles[PREDICTION]
    values = np.asarray(predictions, dtype=float) if profile["type"] == "numeric" else label_strings(predictions)
    prediction = feature_drift(PREDICTION, profile, values, config)
    result["features"] = [asdict(item) for item in scored]
    result["prediction"] = asdict(prediction)
    result["drifted"] = [item.name for item in [*scored, prediction] if item.drifted]
    result["verdict"] = "drift" if result["drifted"] else "ok"
    return result
