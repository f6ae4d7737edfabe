"""The gunicorn config's runtime directories: made when unset, removed however the server ends."""

import os
import signal
import sys

import pytest

from conftest import ROOT, params_in, write_params
from servers import gunicorn, run_gunicorn, wait_for_replacement, workers_of

pytestmark = pytest.mark.slow


def test_a_model_that_fails_to_load_leaves_no_directories(tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    params = write_params(tmp_path, params_in(tmp_path))  # paths into tmp_path, where no model is
    result = run_gunicorn(
        tmp_path, PYTHONPATH=str(ROOT / "src"), PARAMS_FILE=str(params), MLOPS_RUNTIME_DIR=str(runtime)
    )
    assert result.returncode != 0
    assert "model metadata not found" in result.stdout + result.stderr
    assert list(runtime.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers through /proc")
def test_a_worker_exiting_keeps_them_and_the_server_stopping_removes_them(served, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    with gunicorn(served[3], workers=2, MLOPS_RUNTIME_DIR=str(runtime)) as (_, process):
        made = sorted(path.name.split("-")[0] for path in runtime.iterdir())
        assert made == ["monitoring", "prometheus"]
        first = min(workers_of(process.pid))
        os.kill(first, signal.SIGTERM)  # it runs its atexit handlers; gunicorn starts another
        assert first not in wait_for_replacement(process.pid, first, workers=2)
        assert sorted(path.name.split("-")[0] for path in runtime.iterdir()) == made
    assert process.returncode == 0
    assert list(runtime.iterdir()) == []
