"""The model bundle: the fitted pipeline plus its metadata, verified before anything serves it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from mlops.artifacts import sha256_file
from mlops.config import CLASSIFICATION, REGRESSION
from mlops.schema import FeatureSchema


class BundleError(RuntimeError):
    """The model bundle is missing, unreadable or fails its integrity check."""


class PipelineFile:
    """A model file whose sha256 was checked, unpickled (importing scikit-learn) on first use."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._pipeline = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def load(self):
        with self._lock:
            if self._pipeline is None:
                self._pipeline = _unpickle(self.path)
            return self._pipeline


def _unpickle(path: Path):
    import joblib  # imports scikit-learn as it unpickles the Pipeline

    try:
        return joblib.load(path)
    except Exception as error:  # unpickling can raise anything; the file is at fault either way
        raise BundleError(f"{path}: cannot load the model ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class ModelBundle:
    source: object  # the fitted Pipeline, or a PipelineFile that loads it when first needed
    metadata: dict
    schema: FeatureSchema

    @property
    def pipeline(self):
        return self.source.load() if isinstance(self.source, PipelineFile) else self.source

    @property
    def pipeline_loaded(self) -> bool:
        return not isinstance(self.source, PipelineFile) or self.source.loaded

    @property
    def version(self) -> str:
        return self.metadata["model"]["version"]

    @property
    def task(self) -> str:
        return self.metadata.get("task", REGRESSION)  # bundles from before classification

    @property
    def classes(self) -> list | None:
        """A classifier's labels, in the order of its probabilities (None for regression)."""
        return (self.metadata.get("target") or {}).get("classes") if self.task == CLASSIFICATION else None


def model_version(sha256: str) -> str:
    """A model's version is the start of its file's sha256: it names exactly one model."""
    return sha256[:12]


def read_metadata(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: model metadata not found; train the model first (make pipeline)") from None
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable model metadata ({error})") from None


def read_run_record(path: Path, version: str) -> dict | None:
    """The record of the training run that produced model `version`, if it is at hand.

    A model restored from DVC's cache has no matching record (another run made it).
    """
    record = read_json_object(path)
    return record if record is not None and record.get("model_version") == version else None


def read_json_object(path: Path) -> dict | None:
    """A JSON object from a file; None when the file is absent, unreadable or holds something else."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def load_bundle(model_path: Path, metadata_path: Path, *, defer: bool = False) -> ModelBundle:
    """Load the pipeline only after its sha256 matches the one recorded at training; with `defer`,
    only when first used (the API's fast path may never need it)."""
    metadata = read_metadata(metadata_path)
    try:
        expected = metadata["model"]["sha256"]
        schema = FeatureSchema.model_validate(metadata["schema"])
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{metadata_path}: not a model metadata file ({error})") from None
    if not Path(model_path).is_file():
        raise BundleError(f"{model_path}: model file not found; train the model first (make pipeline)")
    actual = sha256_file(model_path)
    if actual != expected:
        raise BundleError(
            f"{model_path}: integrity check failed (sha256 {actual[:12]}..., metadata says {expected[:12]}...)"
        )
    source = PipelineFile(model_path)
    return ModelBundle(source=source if defer else source.load(), metadata=metadata, schema=schema)
