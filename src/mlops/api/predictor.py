"""The loaded model behind the API: validated records in, predictions out, through the batcher."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import sklearn

from mlops.api.batching import MicroBatcher
from mlops.bundle import ModelBundle
from mlops.config import BatchingConfig


class PredictionError(RuntimeError):
    """The model failed or returned a non-finite value for valid input."""


class Predictor:
    def __init__(
        self,
        bundle: ModelBundle,
        batching: BatchingConfig,
        on_model_call: Callable[[int], None] | None = None,
        on_predictions: Callable[[pd.DataFrame, np.ndarray], None] | None = None,
    ):
        """`on_model_call(rows)` and `on_predictions(frame, values)` observe every model call."""
        self.bundle = bundle
        self._on_model_call = on_model_call
        self._on_predictions = on_predictions
        self.schema = bundle.schema
        self.batcher = MicroBatcher(self.predict_rows, batching) if batching.enabled else None
        self.ready, self.not_ready_reason = self._self_check()

    def predict_rows(self, rows: list[dict]) -> np.ndarray:
        """One model call on validated records (no batching)."""
        if self._on_model_call is not None:
            self._on_model_call(len(rows))
        frame = self.schema.to_frame(rows)
        values = self._predict_frame(frame)
        if self._on_predictions is not None:
            self._observe(frame, values)
        return values

    def _observe(self, frame: pd.DataFrame, values: np.ndarray) -> None:
        """Pass on the rows whose requests will succeed: a non-finite prediction fails its request."""
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            keep = np.isfinite(values)
            frame, values = frame[keep], values[keep]
        self._on_predictions(frame, values)

    def _predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        # Input is already validated; skip sklearn's repeated finiteness and parameter checks.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self.bundle.pipeline.predict(frame)

    def predict(self, rows: list[dict]) -> list[float]:
        values = self.batcher.submit(rows) if self.batcher is not None else self.predict_rows(rows)
        result = [float(value) for value in values]
        if not all(math.isfinite(value) for value in result):
            raise PredictionError("the model returned a non-finite prediction")
        return result

    def _self_check(self) -> tuple[bool, str | None]:
        """Predict the schema's example record once; a model that cannot is not ready."""
        try:  # not predict_rows: the self-check is not traffic (no metrics, no drift window)
            values = self._predict_frame(self.schema.to_frame([self.schema.example_record()]))
        except Exception as error:  # any failure means not ready; say which
            return False, f"self-check prediction failed: {type(error).__name__}: {error}"
        if len(values) != 1 or not math.isfinite(float(values[0])):
            return False, f"self-check prediction is not a finite number: {values!r}"
        return True, None
