"""The gunicorn config's runtime directories: made when unset, removed however the server ends."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, params_in, write_params
from servers import gunicorn, run_gunicorn

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


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
        first = min(children(process.pid))
        os.kill(first, signal.SIGTERM)  # it runs its atexit handlers; gunicorn starts another
        deadline = time.monotonic() + 30
        while (first in children(process.pid) or len(children(process.pid)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first not in children(process.pid)
        assert sorted(path.name.split("-")[0] for path in runtime.iterdir()) == made
    assert process.returncode == 0
    assert list(runtime.iterdir()) == []
