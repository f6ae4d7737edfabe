"""The gunicorn config: its runtime directories (made when unset, removed however the server ends)
and its access log."""

import json
import os
import signal
import sys
import time
import urllib.request
from datetime import datetime

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


def test_each_request_is_one_json_access_line_whatever_the_client_sends(served):
    agent = 'curl/8 "quoted" \\ back\tslash \u00e9'  # quotes, a backslash, a tab, non-ASCII
    with gunicorn(served[3]) as (url, _):
        request = urllib.request.Request(
            f"{url}/health?probe=1&x=%22", headers={"User-Agent": agent, "X-Request-ID": "access-log-test.1"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        log = served[3] / f"gunicorn-{url.rsplit(':', 1)[1]}.log"
        for _ in range(100):  # the line is written after the answer is sent
            lines = [json.loads(line) for line in log.read_text().splitlines() if "access-log-test.1" in line]
            if lines:
                break
            time.sleep(0.05)
    (line,) = lines
    assert line["event"] == "access"
    assert line["request_id"] == "access-log-test.1"
    assert line["method"] == "GET"
    assert line["path"] == "/health"
    assert line["query"] == "probe=1&x=%22"
    assert line["status"] == response.status
    assert line["bytes"] == len(body)
    assert line["user_agent"] == agent
    assert line["remote"] == "127.0.0.1"
    assert 0 < line["duration_ms"] < 10_000
    assert abs(datetime.strptime(line["ts"], "%d/%b/%Y:%H:%M:%S %z").timestamp() - time.time()) < 60


def test_the_curl_line_at_startup_runs_in_a_shell_whatever_the_example_holds(served_scenario):
    """A fork's example values can hold quotes (a label like St Andrew's): the line must still parse."""
    import shlex

    model = served_scenario("multiclass")
    example = model[1].schema.example_record()
    assert any("'" in str(value) for value in example.values())  # what the scenario is for
    with gunicorn(model[3]) as (url, _):
        pass
    log = (model[3] / f"gunicorn-{url.rsplit(':', 1)[1]}.log").read_text()
    line = next(line for line in log.splitlines() if "curl -s -X POST" in line)
    words = shlex.split(line[line.index("curl") :])
    assert json.loads(words[words.index("-d") + 1]) == example


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_CONCURRENCY", "0"),  # not a number at all: gunicorn itself fails on import, before this config
        ("GUNICORN_THREADS", "0"),
        ("GUNICORN_TIMEOUT", "1.5"),
        ("GUNICORN_REQUEST_TIMEOUT", "nan"),
    ],
)
def test_a_bad_server_setting_stops_it_in_one_line_naming_the_variable(served, variable, value):
    result = run_gunicorn(served[3], **{variable: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Error: {variable}={value!r}: expected a" in output
    assert "Traceback" not in output


def test_params_that_do_not_validate_stop_the_server_in_one_line(served, tmp_path):
    params = params_in(tmp_path)
    params["serve"]["max_records"] = 0
    result = run_gunicorn(served[3], PARAMS_FILE=str(write_params(tmp_path, params)))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "serve.max_records" in output
    assert "Traceback" not in output
