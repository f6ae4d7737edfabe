"""Serving stays light: the API and its server config never import DVC, MLflow or matplotlib."""

import json
import subprocess
import sys

TRAINING_ONLY = ("dvc", "mlflow", "matplotlib", "skops")


def test_serving_imports_no_training_libraries():
    script = (
        "import sys, json; import mlops.api, mlops.api.precompile, mlops.gitops.probe, mlops.gitops.deploy, mlops.gitops.drift_check; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(TRAINING_ONLY)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_import_check_would_notice():
    script = f"import sys, json; import mlops.tracking; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(TRAINING_ONLY)!r}))))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "mlflow" in json.loads(done.stdout)
