"""The deploy script against a fake Render on 127.0.0.1 (a deploy hook and a service)."""

import os
import subprocess
import urllib.parse
from typing import ClassVar

import pytest

from mlops.gitops import deploy

from conftest import ROOT
from fake_http import JsonHandler, serve

OLD, NEW = "a" * 40, "b" * 40
HOOK_KEY = "s3cr3t-hook-key"


class FakeRender(JsonHandler):
    """POST /deploy/srv-1?key=...&imgURL=... starts a deploy; /metadata reports the new commit
    `flip_after` polls later; /predict answers like the API."""

    state: ClassVar[dict] = {}

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.body()
        state = type(self).state
        if url.path == "/deploy/srv-1":
            state["hooks"].append({"query": dict(urllib.parse.parse_qsl(url.query)), "method": "POST"})
            self.reply(state["hook_status"], {"deploy": {"id": "dep-1"}})
        elif url.path == "/predict":
            state["predict_headers"].append(dict(self.headers))
            state["predict_bodies"].append(body)
            self.reply(200, {"prediction": state["prediction"], "model_version": "m1", "request_id": "r"})
        else:
            self.reply(404, {})

    def do_GET(self):
        state = type(self).state
        if self.path == "/metadata":
            state["polls"] += 1
            live = state["serve_commit"] if state["hooks"] and state["polls"] > state["flip_after"] else OLD
            self.reply(200, {"commit": live, "model": {"version": "m1"}, "schema": state["schema"]})
        else:
            self.reply(404, {})


@pytest.fixture
def render(monkeypatch):
    FakeRender.state = {
        "hooks": [], "polls": 0, "flip_after": 2, "serve_commit": NEW, "hook_status": 200,
        "predict_headers": [], "predict_bodies": [], "prediction": 123456.7,
        "schema": {"features": [{"name": "x", "typical": 1.5}, {"name": "c", "typical": "A"}]},
    }  # fmt: skip
    with serve(FakeRender) as base:
        monkeypatch.setenv("RENDER_DEPLOY_HOOK_URL", f"{base}/deploy/srv-1?key={HOOK_KEY}")
        monkeypatch.setenv("RENDER_SERVICE_URL", base + "/")
        monkeypatch.delenv("API_KEY", raising=False)
        yield FakeRender.state


IMAGE = "ghcr.io/owner/repo@sha256:" + "c" * 64


def run(*extra: str) -> int:
    return deploy.main(["--image", IMAGE, "--commit", NEW, "--interval", "0.01", "--timeout", "5", *extra])


def test_success_sends_the_image_waits_for_the_commit_and_smoke_tests(render, capsys):
    assert run() == 0
    assert render["hooks"] == [{"query": {"key": HOOK_KEY, "imgURL": IMAGE}, "method": "POST"}]
    assert render["polls"] == render["flip_after"] + 1
    assert render["predict_bodies"] == [{"x": 1.5, "c": "A"}]
    out = capsys.readouterr().out
    assert f"serving commit {NEW[:12]}" in out
    assert HOOK_KEY not in out  # the hook URL's key is a secret


def test_api_key_is_sent_but_never_printed(render, monkeypatch, capsys):
    monkeypatch.setenv("API_KEY", "k3y-value")
    assert run() == 0
    assert render["predict_headers"][0]["Authorization"] == "Bearer k3y-value"
    assert "k3y-value" not in capsys.readouterr().out


def test_wrong_commit_fails(render, capsys):
    render["serve_commit"] = "d" * 40  # the service comes up, but on another commit
    assert run("--timeout", "0.3") == 1
    out = capsys.readouterr().out
    assert f"did not report commit {NEW[:12]}" in out
    assert f"last: commit {'d' * 12}" in out
    assert render["predict_bodies"] == []


def test_timeout_when_the_service_never_flips(render, capsys):
    render["flip_after"] = 10**9
    assert run("--timeout", "0.2") == 1
    assert f"last: commit {OLD[:12]}" in capsys.readouterr().out


@pytest.mark.parametrize("status", [404, 500])
def test_hook_error_fails_without_leaking_the_hook_url(render, capsys, status):
    render["hook_status"] = status
    assert run() == 1
    out = capsys.readouterr().out
    assert f"deploy hook refused the deploy (HTTP {status})" in out
    assert HOOK_KEY not in out
    assert render["polls"] == 0


def test_unreachable_service_is_reported(render, monkeypatch, capsys):
    monkeypatch.setenv("RENDER_SERVICE_URL", "http://127.0.0.1:9")
    assert run("--timeout", "0.1") == 1
    assert "Connection refused" in capsys.readouterr().out


def test_skips_and_says_what_to_set_without_secrets(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("RENDER_DEPLOY_HOOK_URL", raising=False)
    monkeypatch.delenv("RENDER_SERVICE_URL", raising=False)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    assert run() == 0
    assert "set the RENDER_DEPLOY_HOOK_URL and RENDER_SERVICE_URL secrets" in summary.read_text()
    assert (tmp_path / "output").read_text() == "deployed=false\n"  # nothing live to point `latest` at


def test_success_is_written_to_the_job_summary(render, monkeypatch, tmp_path):
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert run() == 0
    assert output.read_text() == "deployed=true\n"
    assert f"live at commit `{NEW[:12]}`" in summary.read_text()
    assert HOOK_KEY not in summary.read_text()


def test_hook_request_url_replaces_any_image():
    url = deploy.hook_request_url("https://api.render.com/deploy/srv-1?key=k&imgURL=old", "ghcr.io/o/r:sha-1")
    assert url == "https://api.render.com/deploy/srv-1?key=k&imgURL=ghcr.io%2Fo%2Fr%3Asha-1"


@pytest.mark.parametrize(
    ("image", "commit", "expected"),
    [
        ("ghcr.io/owner/repo:latest", NEW, "--image must be pinned by digest"),
        ("ghcr.io/owner/repo@sha256:" + "c" * 63, NEW, "--image must be pinned by digest"),
        (IMAGE, NEW[:12], "--commit must be a full 40-character"),
        (IMAGE, "B" * 40, "--commit must be a full 40-character"),
    ],
)
def test_rejects_an_image_not_pinned_by_digest_or_a_short_commit(render, capsys, image, commit, expected):
    assert deploy.main(["--image", image, "--commit", commit, "--timeout", "0.1"]) == 2
    assert expected in capsys.readouterr().out
    assert render["hooks"] == []


@pytest.mark.parametrize(
    ("variable", "url", "problem"),
    [
        ("RENDER_DEPLOY_HOOK_URL", "ftp://api.render.com/deploy/srv-1?key=" + HOOK_KEY, "not an http(s) URL"),
        ("RENDER_DEPLOY_HOOK_URL", "api.render.com/x?key=" + HOOK_KEY, "not an http(s) URL"),
        ("RENDER_DEPLOY_HOOK_URL", "https://[api.render.com/deploy?key=" + HOOK_KEY, "not a valid URL"),
        ("RENDER_DEPLOY_HOOK_URL", "http://127.0.0.1:8x/deploy?key=" + HOOK_KEY, "not a valid URL"),  # the port
        ("RENDER_SERVICE_URL", "http://127.0.0.1:abc", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_named_but_not_shown_and_nothing_is_sent(
    render, monkeypatch, capsys, variable, url, problem
):
    monkeypatch.setenv(variable, url)
    assert run() == 2
    out = capsys.readouterr().out
    assert f"{variable} is {problem}" in out
    assert HOOK_KEY not in out
    assert "Traceback" not in out
    assert render["hooks"] == []


@pytest.mark.parametrize("commit", [12345, None, ["b" * 40]])
def test_a_live_commit_that_is_not_a_string_is_not_the_commit(render, capsys, commit):
    render["serve_commit"] = commit
    assert run() == 1
    assert f"did not report commit {NEW[:12]}" in capsys.readouterr().out


@pytest.mark.parametrize("schema", [None, {"features": None}, {"features": ["x"]}, "a schema"])
def test_live_metadata_without_a_schema_fails_the_smoke_test_in_one_line(render, capsys, schema):
    render["schema"] = schema
    assert run() == 1
    assert "/metadata holds no feature schema" in capsys.readouterr().out


@pytest.mark.parametrize("unset", ["RENDER_DEPLOY_HOOK_URL", "RENDER_SERVICE_URL"])
def test_half_a_render_configuration_fails_and_names_what_is_missing(render, monkeypatch, capsys, unset):
    monkeypatch.delenv(unset)
    assert run() == 2
    assert f"{unset} is not set" in capsys.readouterr().out
    assert render["hooks"] == []


@pytest.mark.parametrize(
    ("prediction", "ok"), [("a label", True), (1, True), (None, False), ("", False), (True, False)]
)
def test_a_classifier_label_passes_the_smoke_test_and_nothing_else_does(render, capsys, prediction, ok):
    render["prediction"] = prediction
    assert run() == (0 if ok else 1)
    assert ("smoke /predict answered" in capsys.readouterr().out) is ok


def test_make_deploy_without_secrets_skips_even_without_an_image(tmp_path):
    """What `make deploy` does on a laptop: no RENDER_* secrets, no IMAGE: a skip, not an error."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RENDER_", "IMAGE", "COMMIT"))}
    done = subprocess.run(["make", "-s", "deploy"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Render deploy skipped" in done.stdout
    assert "pinned by digest" not in done.stdout + done.stderr
