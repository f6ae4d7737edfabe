"""The loaded model behind the API: validated records in, predictions out, through the batcher.

Predictions go through the fast path (mlops.fast_path) when the bundle's parity rows confirm it
at startup, else through the fitted Pipeline; `fast_path_status` says which and why. With boosted
trees the fast path needs neither the Pipeline nor scikit-learn: neither is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops import fast_path
from mlops.api.batching import MicroBatcher
from mlops.bundle import ModelBundle
from mlops.config import BatchingConfig

if TYPE_CHECKING:
    import pandas as pd


class PredictionError(RuntimeError):
    """The model failed or returned a non-finite value for valid input."""


@dataclass(frozen=True)
class Answer:
    """The predictions for one request's records."""

    values: list  # regression: floats; classification: labels
    probabilities: list[dict] | None = None  # classification: {label: probability} per record


class Predictor:
    def __init__(
        self,
        bundle: ModelBundle,
        batching: BatchingConfig,
        on_model_call: Callable[[int], None] | None = None,
        on_predictions: Callable[[list[dict], np.ndarray], None] | None = None,
        parity: dict | None = None,
        fast_path_file: bytes | None = None,
    ):
        """`on_model_call(rows)` and `on_predictions(records, values)` observe every model call; `values`
        are the predictions (regression) or the index of each row's predicted class. `parity` and
        `fast_path_file` are the bundle's parity rows (paths.parity) and fast path (paths.fast_path):
        without them, predictions go through the Pipeline."""
        self.bundle = bundle
        self._on_model_call = on_model_call
        self._on_predictions = on_predictions
        self.schema = bundle.schema
        self.classes = bundle.classes
        self.fast, self.fast_path_status = fast_path.verified(
            parity, fast_path_file, bundle.version, bundle.task, lambda: bundle.pipeline
        )
        if self.fast is None:
            bundle.pipeline  # noqa: B018 (load it now: a model that cannot load stops the server here)
        self.batcher = MicroBatcher(self.predict_rows, batching) if batching.enabled else None
        self.ready, self.not_ready_reason = self._self_check()

    def predict_rows(self, rows: list[dict]) -> np.ndarray:
        """One model call on validated records (no batching): values, or class probabilities."""
        if self._on_model_call is not None:
            self._on_model_call(len(rows))
        output = self._outputs(rows)
        if self._on_predictions is not None:
            self._observe(rows, output)
        return output

    def _observe(self, rows: list[dict], output: np.ndarray) -> None:
        """Pass on the rows whose requests will succeed (a non-finite prediction fails its request):
        the values, or each row's predicted class index."""
        finite = np.isfinite(output) if output.ndim == 1 else np.isfinite(output).all(axis=1)
        if not finite.all():
            rows, output = [row for row, ok in zip(rows, finite.tolist(), strict=True) if ok], output[finite]
        self._on_predictions(rows, output if self.classes is None else np.argmax(output, axis=1))

    def _outputs(self, rows: list[dict]) -> np.ndarray:
        if self.fast is not None:
            return self.fast.predict(rows)
        return self._predict_frame(self.schema.to_frame(rows))

    def _predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        import sklearn  # loaded with the Pipeline

        # Input is already validated; skip sklearn's repeated finiteness and parameter checks.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            if self.classes is None:
                return self.bundle.pipeline.predict(frame)
            return self.bundle.pipeline.predict_proba(frame)

    def predict(self, rows: list[dict]) -> Answer:
        output = self.batcher.submit(rows) if self.batcher is not None else self.predict_rows(rows)
        if not np.isfinite(output).all():
            raise PredictionError("the model returned a non-finite prediction")
        if self.classes is None:
            return Answer(values=[float(value) for value in output])
        classes = self.classes
        return Answer(
            values=[classes[index] for index in np.argmax(output, axis=1).tolist()],
            probabilities=[dict(zip(map(str, classes), row, strict=True)) for row in output.tolist()],
        )

    def _self_check(self) -> tuple[bool, str | None]:
        """Predict the schema's example record once; a model that cannot is not ready."""
        try:  # not predict_rows: the self-check is not traffic (no metrics, no drift window)
            output = self._outputs([self.schema.example_record()])
        except Exception as error:  # any failure means not ready; say which
            return False, f"self-check prediction failed: {type(error).__name__}: {error}"
        if self.classes is None:
            if len(output) != 1 or not math.isfinite(float(output[0])):
                return False, f"self-check prediction is not a finite number: {output!r}"
            return True, None
        if output.shape != (1, len(self.classes)):
            return False, f"self-check probabilities do not match the {len(self.classes)} classes: {output!r}"
        if not np.isfinite(output).all():
            return False, f"self-check probabilities are not all finite numbers: {output!r}"
        if not math.isclose(float(output.sum()), 1.0, abs_tol=1e-6):
            return False, f"self-check probabilities sum to {float(output.sum())}, not 1"
        return True, None
