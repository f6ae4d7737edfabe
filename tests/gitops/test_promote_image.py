"""`make promote-image`: the registry call that moves `latest`, against a recording fake docker."""

import os
import subprocess

import pytest

from conftest import ROOT

DIGEST = "sha256:" + "e" * 64


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    return calls


def promote(image: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "promote-image", f"IMAGE={image}"], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_latest_is_pointed_at_the_digest(fake_docker):
    done = promote(f"ghcr.io/owner/repo@{DIGEST}")
    assert done.returncode == 0, done.stderr
    assert fake_docker.read_text().split() == [
        "buildx", "imagetools", "create", "--tag", "ghcr.io/owner/repo:latest", f"ghcr.io/owner/repo@{DIGEST}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "image", ["ghcr.io/owner/repo:sha-1234567", "ghcr.io/owner/repo@sha256:abc", "", "x@" + DIGEST + ";id"]
)
def test_anything_but_a_digest_is_refused_before_docker_runs(fake_docker, image):
    done = promote(image)
    assert done.returncode != 0
    assert "IMAGE must be <name>@sha256:<64 hex>" in done.stderr
    assert not fake_docker.exists()


def test_the_image_reaches_the_shell_as_data_not_code(fake_docker, tmp_path):
    marker = tmp_path / "injected"
    done = promote(f"`touch {marker}`$(touch {marker})")
    assert done.returncode != 0
    assert not marker.exists()
    assert not fake_docker.exists()
