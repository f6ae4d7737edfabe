import json

import joblib
import pytest

from mlops.artifacts import sha256_file
from mlops.bundle import BundleError, load_bundle, read_metadata


@pytest.fixture
def bundle_files(trained, tmp_path):
    _, result, _, _ = trained
    model = tmp_path / "model.joblib"
    joblib.dump(result.pipeline, model)
    metadata = tmp_path / "metadata.json"
    sha = sha256_file(model)
    metadata.write_text(
        json.dumps({"model": {"sha256": sha, "version": sha[:12]}, "schema": result.schema.model_dump()})
    )
    return model, metadata


def test_load_bundle_checks_and_loads(bundle_files, trained):
    bundle = load_bundle(*bundle_files)
    assert bundle.version == sha256_file(bundle_files[0])[:12]
    assert bundle.schema == trained[1].schema


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda model, meta: model.unlink(), "model file not found"),
        (lambda model, meta: meta.unlink(), "model metadata not found"),
        (lambda model, meta: meta.write_text("{not json"), "unreadable model metadata"),
        (lambda model, meta: meta.write_text('{"model": {}}'), "not a model metadata file"),
        (lambda model, meta: model.write_bytes(model.read_bytes()[:-10]), "integrity check failed"),
    ],
)
def test_damaged_bundles_are_refused(bundle_files, damage, expected):
    damage(*bundle_files)
    with pytest.raises(BundleError, match=expected):
        load_bundle(*bundle_files)


def test_a_file_that_matches_its_hash_but_is_not_a_model(bundle_files):
    model, metadata = bundle_files
    model.write_bytes(b"not a pickle")
    payload = json.loads(metadata.read_text())
    payload["model"]["sha256"] = sha256_file(model)
    metadata.write_text(json.dumps(payload))
    with pytest.raises(BundleError, match="cannot load the model"):
        load_bundle(model, metadata)


def test_read_metadata_of_a_directory(tmp_path):
    with pytest.raises(BundleError, match="unreadable"):
        read_metadata(tmp_path)


def test_run_record_only_for_its_own_model(tmp_path):
    from mlops.bundle import read_run_record

    path = tmp_path / "run.json"
    assert read_run_record(path, "abc") is None
    path.write_text(json.dumps({"model_version": "abc", "mlflow": {"run_id": "r1"}}))
    assert read_run_record(path, "abc")["mlflow"]["run_id"] == "r1"
    assert read_run_record(path, "def") is None
    path.write_text("[1, 2]")
    assert read_run_record(path, "abc") is None
