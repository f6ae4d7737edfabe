"""Drift gauges tell the truth: no verdict without enough data, nothing kept from a dead worker."""

import json
import math
import os
import signal
import sys

import pytest

from mlops.gitops.probe import request, wait_for

from metrics_text import sample
from raw_http import exchange, one_record, post_json
from servers import gunicorn, wait_for_replacement, worker_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc"),
]


def drift_samples(url: str) -> tuple[float | None, list[float]]:
    text = request(f"{url}/metrics").body.decode()
    psi = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("model_drift_psi{")]
    return sample(text, "model_drift_detected"), psi


def test_drift_gauges_reset_when_a_restarted_worker_has_no_data(served):
    batch = json.dumps({"records": [one_record(served, i) for i in range(80)]}).encode()
    with gunicorn(served[3]) as (url, process):
        for _ in range(3):
            assert exchange(url, post_json("/predict", batch)).status == 200
        assert request(f"{url}/monitoring/drift").json()["verdict"] in ("ok", "drift")
        detected, psi = drift_samples(url)
        assert detected in (0.0, 1.0)
        assert psi
        assert not any(math.isnan(value) for value in psi)

        old = worker_of(process.pid)
        os.kill(old, signal.SIGKILL)
        wait_for_replacement(process.pid, old)
        wait_for(f"{url}/ready")

        assert request(f"{url}/monitoring/drift").json()["verdict"] == "insufficient_data"
        detected, psi = drift_samples(url)
        assert detected is not None
        assert math.isnan(detected)  # not the dead worker's verdict
        assert all(math.isnan(value) for value in psi)  # its PSI values are gone (or unknown)
