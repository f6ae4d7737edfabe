"""Resolving a rollback target against a recording fake `docker` that answers like GHCR."""

import json
import os
import subprocess

import pytest

from mlops.gitops import rollback

from conftest import ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "d" * 64


def image(commit=COMMIT):
    return {"config": {"Labels": {"org.opencontainers.image.revision": commit}}}


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A fake docker: `imagetools inspect <ref> --format ...` answers from `answers[ref][field]`."""
    answers, calls = tmp_path / "answers.json", tmp_path / "calls"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"answers = json.load(open({str(answers)!r}))\n"
        "ref, field = sys.argv[4], sys.argv[6][len('{{json .'):-2]\n"
        "if ref not in answers: sys.exit(print('ERROR: ' + ref + ': not found', file=sys.stderr) or 1)\n"
        "print(json.dumps(answers[ref][field]))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "Owner/Repo")
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.setenv(name, str(tmp_path / name))

    def serve(content: dict) -> None:
        answers.write_text(json.dumps(content))

    def sent() -> list[list[str]]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return tmp_path, serve, sent


@pytest.mark.parametrize("requested", ["sha-0123456", COMMIT])
def test_a_tag_or_commit_resolves_to_the_digest_and_the_images_commit(registry, requested):
    tmp_path, serve, sent = registry
    serve({"ghcr.io/owner/repo:sha-0123456": {"Manifest": {"digest": DIGEST}, "Image": image()}})
    assert rollback.main(["--requested", requested]) == 0
    assert (tmp_path / "GITHUB_OUTPUT").read_text() == f"image=ghcr.io/owner/repo@{DIGEST}\ncommit={COMMIT}\n"
    reference = "ghcr.io/owner/repo:sha-0123456"  # lowercased, as CI pushes it
    assert sent() == [
        ["buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}"],
        ["buildx", "imagetools", "inspect", reference, "--format", "{{json .Image}}"],
    ]


def test_a_multi_platform_index_takes_the_commit_label_of_its_images(registry):
    tmp_path, serve, _ = registry
    index = {"linux/amd64": image(), "linux/arm64": image()}
    serve({"ghcr.io/owner/repo:v1": {"Manifest": {"digest": DIGEST, "manifests": []}, "Image": index}})
    assert rollback.main(["--requested", "v1"]) == 0
    assert f"commit={COMMIT}" in (tmp_path / "GITHUB_OUTPUT").read_text()


@pytest.mark.parametrize(
    ("requested", "answers", "message"),
    [
        ("sha-9999999", {}, "ghcr.io/owner/repo:sha-9999999: the registry has no such image (ERROR:"),
        ("v1; rm -rf /", {}, "not an image tag or a 40-character commit SHA"),
        ("", {}, "not an image tag"),
        ("v1", {"ghcr.io/owner/repo:v1": {"Manifest": {}, "Image": image()}}, "no sha256 digest"),
        ("v1", {"ghcr.io/owner/repo:v1": {"Manifest": {"digest": DIGEST}, "Image": {"config": {}}}}, "no org.opencontainers.image.revision label"),
        (COMMIT, {"ghcr.io/owner/repo:sha-0123456": {"Manifest": {"digest": DIGEST}, "Image": image("f" * 40)}}, "was built from ffffffffffff, not 0123456789ab"),
    ],
)  # fmt: skip
def test_unusable_requests_and_answers_fail_in_one_line_with_no_output(registry, capsys, requested, answers, message):
    tmp_path, serve, _ = registry
    serve(answers)
    assert rollback.main(["--requested", requested]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "GITHUB_OUTPUT").exists()


def test_the_repository_must_be_known(registry, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_REPOSITORY")
    assert rollback.main(["--requested", "v1"]) == 1
    assert "GITHUB_REPOSITORY must be set" in capsys.readouterr().err


def test_make_passes_the_workflow_input_through_the_environment_only(registry):
    tmp_path, serve, sent = registry
    serve({})
    marker = tmp_path / "injected"
    env = {**os.environ, "REQUESTED": f'x"; touch {marker}; echo "$(touch {marker})'}
    done = subprocess.run(
        ["make", "-s", "resolve-image"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "not an image tag or a 40-character commit SHA" in done.stderr
    assert not marker.exists()
    assert sent() == []


@pytest.mark.parametrize(
    ("stderr", "cause"),
    [
        ("docker: 'buildx' is not a docker command.\nSee 'docker --help'", "docker buildx is not available"),
        ("docker: unknown command: docker buildx\n\nRun 'docker --help' for more information", "docker buildx is not available"),
        ("ERROR: failed to authorize: failed to fetch anonymous token: 401 Unauthorized", "the registry refused access"),
        ("ERROR: dial tcp: lookup ghcr.io: no such host", "the registry could not be reached"),
        ("ERROR: ghcr.io/owner/repo:v1: not found", "the registry has no such image"),
        ("something else entirely", "docker buildx imagetools failed (something else entirely)"),
    ],
)  # fmt: skip
def test_a_docker_failure_names_its_real_cause(tmp_path, monkeypatch, capsys, stderr, cause):
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\ncat >&2 <<'END'\n{stderr}\nEND\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    assert rollback.main(["--requested", "v1"]) == 1
    err = capsys.readouterr().err
    assert f"ghcr.io/owner/repo:v1: {cause}" in err
    assert err.count("\n") == 1


def test_no_docker_at_all_is_said_plainly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no docker on PATH
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    assert rollback.main(["--requested", "v1"]) == 1
    assert "docker is not installed" in capsys.readouterr().err
