"""The serving image, built by `make docker-build`, run as Render would run it.

Needs a Docker daemon and IMAGE (the tag to test): `make docker-test` provides both, or skips.
"""

import json
import os
import subprocess
import time
import uuid

import pytest

from mlops.gitops.probe import request, wait_for
from mlops.provenance import git_commit

from servers import free_port

IMAGE = os.environ.get("IMAGE", "")
pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not IMAGE, reason="IMAGE not set: run `make docker-test`, which builds the image"),
]
GRACE_SECONDS = 30


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def inspect(target: str, template: str) -> str:
    return docker("inspect", "--format", template, target).stdout.strip()


@pytest.fixture(scope="module")
def container():
    name = f"mlops-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--env", f"PORT={port}",
        "--health-interval", "1s", "--health-start-period", "30s", IMAGE,
    )  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        print(docker("logs", "--tail", "30", name, check=False).stdout)
        docker("rm", "--force", name, check=False)


def test_becomes_ready_and_healthy(container):
    name, url = container
    wait_for(f"{url}/ready", timeout=60)
    deadline = time.monotonic() + 60
    while inspect(name, "{{.State.Health.Status}}") != "healthy":
        assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
        time.sleep(0.5)


def test_predicts_with_the_labelled_model(container):
    _, url = container
    example = request(f"{url}/metadata").json()["schema"]
    record = {feature["name"]: feature["typical"] for feature in example["features"]}
    answer = request(
        f"{url}/predict", method="POST", data=json.dumps(record).encode(), headers={"Content-Type": "application/json"}
    )
    assert answer.status == 200
    body = answer.json()
    assert body["prediction"] > 0
    assert body["model_version"] == inspect(IMAGE, '{{index .Config.Labels "io.github.mlops-template.model.version"}}')


def test_metadata_names_the_commit_it_was_built_from(container):
    _, url = container
    built = git_commit()  # HEAD, marked -dirty when tracked files have uncommitted changes
    assert inspect(IMAGE, '{{index .Config.Labels "org.opencontainers.image.revision"}}') == built
    assert request(f"{url}/metadata").json()["commit"] == built


def test_runs_as_a_non_root_user(container):
    name, _ = container
    assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
    assert inspect(IMAGE, "{{.Config.User}}") == "10001:10001"


def test_image_holds_no_training_or_test_tools():
    script = "import importlib.util as u; print([m for m in ('dvc', 'mlflow', 'matplotlib', 'pytest', 'uv') if u.find_spec(m)])"
    assert (
        docker("run", "--rm", "--network", "host", "--entrypoint", "python3", IMAGE, "-c", script).stdout.strip()
        == "[]"
    )
    assert (
        docker(
            "run", "--rm", "--network", "host", "--entrypoint", "sh", IMAGE, "-c", "command -v gcc cc curl || true"
        ).stdout.strip()
        == ""
    )


def test_refuses_to_start_with_a_tampered_model(tmp_path):
    name = f"mlops-tampered-{uuid.uuid4().hex[:8]}"
    bad = tmp_path / "model.joblib"
    docker("create", "--name", name, "--network", "host", "--env", f"PORT={free_port()}", IMAGE)
    try:
        docker("cp", f"{name}:/app/model/model.joblib", str(bad))
        bad.write_bytes(bad.read_bytes() + b"tampered")
        docker("cp", str(bad), f"{name}:/app/model/model.joblib")
        docker("start", name)
        exit_code = docker("wait", name, timeout=60).stdout.strip()
        logs = docker("logs", name).stderr + docker("logs", name).stdout
    finally:
        docker("rm", "--force", name, check=False)
    assert exit_code != "0"
    assert "integrity check failed" in logs


def test_sigterm_stops_it_cleanly_within_the_grace_period(container):
    name, _ = container
    started = time.monotonic()
    docker("stop", "--time", str(GRACE_SECONDS), name, timeout=GRACE_SECONDS + 30)
    assert time.monotonic() - started < GRACE_SECONDS
    assert inspect(name, "{{.State.ExitCode}}") == "0"
