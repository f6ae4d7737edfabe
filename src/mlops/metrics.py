"""Regression metrics, computed the same way for training, evaluation and reports."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score, root_mean_squared_error

# Whether a larger value is better, per metric (the PR report colours deltas with it).
HIGHER_IS_BETTER = {"rmse": False, "mae": False, "r2": True, "mape": False}


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """rmse, mae, r2 and mape (a fraction, not percent)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
    }
