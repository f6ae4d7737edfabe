"""dvc.yaml names, for each stage, every module of ours that the stage runs: no more, no fewer."""

import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from e2e import env_for

# Imported only while a stage runs, not when its module is imported.
LAZY = {"evaluate": {"mlops.features"}}  # unpickling the model needs the feature classes
# Run by the stages without shaping a DVC output; a change to them need not retrain.
NOT_SHAPING_OUTPUTS = {
    "mlops": "the package marker",
    "mlops.cli": "exit codes and error lines",
    "mlops.tracking": "MLflow logging: the run record, which is not a DVC output",
    "mlops.progress": "progress lines",
}


def imported_modules(stage: str) -> set[str]:
    code = f"import sys, mlops.{stage}; print(*[m for m in sys.modules if m.split('.')[0] == 'mlops'])"
    # env_for: this checkout's src/, without coverage's subprocess hook (three seconds of imports traced for nothing).
    done = subprocess.run([sys.executable, "-c", code], env=env_for(ROOT), capture_output=True, text=True, check=True)
    return set(done.stdout.split()) | LAZY.get(stage, set())


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate"])
def test_each_stage_depends_on_exactly_the_code_it_runs(stage):
    runs = {f"src/{name.replace('.', '/')}.py" for name in imported_modules(stage) - NOT_SHAPING_OUTPUTS.keys()}
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    code_deps = {dep for dep in deps if dep.startswith("src/")}
    assert runs - code_deps == set(), f"dvc.yaml: add to {stage}.deps"
    assert code_deps - runs == set(), f"dvc.yaml: {stage}.deps lists code the stage does not run"
