"""make connect-render against a fake Render (API, deploy hook, the service) and a fake GHCR on
127.0.0.1, and a fake `gh` on PATH that records its arguments and stdin: the exact requests sent."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from mlops.gitops import connect_render as cr

from conftest import ROOT
from fake_http import JsonHandler, serve

RENDER_KEY = "rnd_render-api-key-s3cret"
GHCR_TOKEN = "ghp_read-packages-s3cret"
HOOK_KEY = "hook-key-s3cret"
GENERATED = "generated-api-key-s3cret"
COMMIT = "c" * 40
BLUEPRINT = (ROOT / "render.yaml").read_text()
SERVICE_NAME = yaml.safe_load(BLUEPRINT)["services"][0]["name"]


class FakeRender(JsonHandler):
    """Render's API under /v1, a deploy hook under /deploy, GHCR's token and manifests, and the
    deployed service itself (/ready, /metadata, /predict), all on one port."""

    state: ClassVar[dict] = {}

    def record(self, body=None) -> tuple[str, dict]:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.state["requests"].append(
            {"method": self.command, "path": url.path, "query": query, "auth": self.headers.get("Authorization"), "body": body}
        )  # fmt: skip
        return url.path, query

    def do_GET(self):
        path, query = self.record()
        state = self.state
        if path == "/v1/owners":
            self.reply(200, [{"owner": owner, "cursor": "x"} for owner in state["owners"]])
        elif path == "/v1/services":
            state["service_polls"] += 1
            visible = state["service"] if state["service_polls"] > state["service_after"] else None
            self.reply(200, [{"service": visible, "cursor": "x"}] if visible else [])
        elif path == "/v1/registrycredentials":
            self.reply(200, [c for c in state["credentials"] if c["name"] == query.get("name")])
        elif path == "/v1/services/srv-1/env-vars":
            self.reply(200, [{"envVar": {"key": k, "value": v}, "cursor": "x"} for k, v in state["env"].items()])
        elif path == "/token":
            self.reply(200, {"token": "anonymous"})
        elif path == "/ready":
            self.reply(200 if state["hooks"] else 503, {"status": "ready"})
        elif path == "/metadata":
            schema = {"features": [{"name": "x", "typical": 1.5}]}
            self.reply(200, {"commit": COMMIT, "model": {"version": "m1"}, "schema": schema})
        else:
            self.reply(404, {"message": "not found"})

    def do_HEAD(self):
        path, _ = self.record()
        status = 200 if self.state["public"] and path == "/v2/octo/forecast/manifests/latest" else 401
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        path, _ = self.record(body := self.body())
        state = self.state
        if state["refuse_key"] and path.startswith("/v1/"):
            self.reply(401, {"message": "unauthorized"})
        elif path == "/v1/registrycredentials":
            created = {"id": "rgc-1", "name": body["name"], "registry": body["registry"], "username": body["username"]}
            state["credentials"].append(created)
            self.reply(201, created)
        elif path == "/deploy/srv-1":
            state["hooks"].append(self.path)
            self.reply(202, {})
        elif path == "/predict":
            state["predict_auth"].append(self.headers.get("Authorization"))
            self.reply(200, {"prediction": 42.5})
        else:
            self.reply(404, {"message": "not found"})

    def do_PATCH(self):
        path, _ = self.record(body := self.body())
        self.state["service"]["imagePath"] = body["image"]["imagePath"]
        self.reply(200 if path == "/v1/services/srv-1" else 404, self.state["service"])

    def do_PUT(self):
        path, _ = self.record(body := self.body())
        self.state["env"][path.rsplit("/", 1)[1]] = body["value"]
        self.reply(200, {"key": path.rsplit("/", 1)[1], "value": body["value"]})


FAKE_GH = r'''#!/usr/bin/env python3
"""A fake GitHub CLI: records argv and stdin, answers like gh for Octo/Forecast."""
import base64, json, os, sys
state = os.environ["FAKE_GH_DIR"]
args = sys.argv[1:]
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps({"argv": args, "stdin": stdin}) + "\n")
config = json.load(open(os.path.join(state, "config.json")))
def secrets():
    path = os.path.join(state, "secrets.json")
    return json.load(open(path)) if os.path.exists(path) else {}
if args[:2] == ["auth", "status"]:
    sys.exit(0 if config["logged_in"] else print("You are not logged into any GitHub hosts.", file=sys.stderr) or 1)
elif args[:2] == ["repo", "view"]:
    print(json.dumps({"nameWithOwner": "Octo/Forecast", "url": "https://github.com/Octo/Forecast", "defaultBranchRef": {"name": "main"}}))
elif args[:2] == ["api", "user"]:
    print("owner-login")
elif args[:1] == ["api"] and args[1].startswith("repos/Octo/Forecast/contents/render.yaml?ref=main"):
    print(json.dumps({"content": base64.b64encode(config["blueprint"].encode()).decode(), "sha": "blob-1"}))
elif args[:3] == ["api", "--method", "PUT"]:
    print(json.dumps({"commit": {"sha": "d" * 40}}))
elif args[:2] == ["secret", "set"]:
    values = secrets(); values[args[2]] = stdin
    json.dump(values, open(os.path.join(state, "secrets.json"), "w"))
elif args[:2] == ["secret", "list"]:
    print(json.dumps([{"name": name} for name in secrets()]))
else:
    sys.exit(print(f"fake gh: unexpected {args}", file=sys.stderr) or 1)
'''


class Gh:
    def __init__(self, directory: Path):
        self.directory = directory

    def calls(self) -> list[dict]:
        path = self.directory / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def secrets(self) -> dict:
        path = self.directory / "secrets.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def committed_blueprint(self) -> str | None:
        puts = [call for call in self.calls() if call["argv"][:3] == ["api", "--method", "PUT"]]
        return base64.b64decode(json.loads(puts[-1]["stdin"])["content"]).decode() if puts else None


def service(image: str = "ghcr.io/octo/forecast:latest", credentials: str | None = "rgc-1", url: str = "") -> dict:
    return {
        "id": "srv-1", "name": SERVICE_NAME, "ownerId": "own-1", "imagePath": image,
        "registryCredential": {"id": credentials, "name": "ghcr-octo"} if credentials else None,
        "dashboardUrl": "https://dashboard.render.com/web/srv-1", "serviceDetails": {"url": url},
    }  # fmt: skip


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A fake Render and GHCR on one port and a fake gh on PATH; returns (base URL, state, gh)."""
    gh_dir = tmp_path / "gh"
    (gh_dir / "bin").mkdir(parents=True)
    script = gh_dir / "bin" / "gh"
    # -S: the fake needs only the standard library, and starts without site-packages (and coverage).
    script.write_text(FAKE_GH.replace("#!/usr/bin/env python3", f"#!{sys.executable} -S", 1))
    script.chmod(0o755)
    (gh_dir / "config.json").write_text(json.dumps({"logged_in": True, "blueprint": BLUEPRINT}))
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GH_DIR", str(gh_dir))
    FakeRender.state = {
        "requests": [], "owners": [{"id": "own-1", "name": "My Workspace", "email": "me@example.com"}],
        "service": None, "service_after": 0, "service_polls": 0, "credentials": [], "env": {"API_KEY": GENERATED},
        "public": False, "hooks": [], "predict_auth": [], "refuse_key": False,
    }  # fmt: skip
    with serve(FakeRender) as base:
        monkeypatch.setenv("RENDER_API_KEY", RENDER_KEY)
        monkeypatch.setenv("GHCR_TOKEN", GHCR_TOKEN)
        monkeypatch.setenv("RENDER_DEPLOY_HOOK_URL", f"{base}/deploy/srv-1?key={HOOK_KEY}")
        monkeypatch.delenv("WORKSPACE", raising=False)
        FakeRender.state["service_template"] = service(url=base)
        yield base, FakeRender.state, Gh(gh_dir)


def run(base: str, *extra: str) -> int:
    return cr.main(
        [
            "--render-api",
            f"{base}/v1",
            "--registry",
            base,
            "--interval",
            "0.01",
            "--wait",
            "5",
            "--ready-timeout",
            "5",
            *extra,
        ]
    )


def api_calls(state: dict) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in state["requests"] if r["path"].startswith("/v1/")]


def test_a_new_fork_with_a_private_image_is_connected_end_to_end(world, capsys):
    base, state, gh = world
    state["service"], state["service_after"] = state["service_template"], 2  # the Blueprint is applied while we wait
    assert run(base) == 0
    out = capsys.readouterr().out

    # Render's API: every call carries the pasted key; credentials are made once, from the token.
    assert {r["auth"] for r in state["requests"] if r["path"].startswith("/v1/")} == {f"Bearer {RENDER_KEY}"}
    assert api_calls(state) == [
        ("GET", "/v1/services"), ("GET", "/v1/owners"), ("GET", "/v1/registrycredentials"),
        ("POST", "/v1/registrycredentials"), ("GET", "/v1/services"), ("GET", "/v1/services"),
        ("GET", "/v1/services/srv-1/env-vars"),
    ]  # fmt: skip
    first = state["requests"][0]
    assert first["query"] == {"name": SERVICE_NAME, "type": "web_service", "limit": "100"}
    (created,) = [
        r["body"] for r in state["requests"] if r["method"] == "POST" and r["path"] == "/v1/registrycredentials"
    ]
    assert created == {
        "registry": "GITHUB", "name": "ghcr-octo", "username": "owner-login", "authToken": GHCR_TOKEN, "ownerId": "own-1",
    }  # fmt: skip
    # GHCR was asked anonymously, for this repository's lowercased image.
    token = next(r for r in state["requests"] if r["path"] == "/token")
    assert token["query"]["scope"] == "repository:octo/forecast:pull"

    # render.yaml, committed through gh on the default branch, names the image and the credentials.
    committed = yaml.safe_load(gh.committed_blueprint())["services"][0]
    assert committed["image"] == {
        "url": "ghcr.io/octo/forecast:latest",
        "creds": {"fromRegistryCreds": {"name": "ghcr-octo"}},
    }
    put = next(call for call in gh.calls() if call["argv"][:3] == ["api", "--method", "PUT"])
    assert put["argv"] == ["api", "--method", "PUT", "repos/Octo/Forecast/contents/render.yaml", "--input", "-"]
    assert json.loads(put["stdin"])["sha"] == "blob-1"
    assert json.loads(put["stdin"])["branch"] == "main"
    assert f"{base}/deploy/srv-1" not in out

    # The secrets: through stdin only, with the service's generated API key.
    assert gh.secrets() == {
        "RENDER_DEPLOY_HOOK_URL": f"{base}/deploy/srv-1?key={HOOK_KEY}", "RENDER_SERVICE_URL": base, "API_KEY": GENERATED,
    }  # fmt: skip
    for call in gh.calls():
        assert not any(secret in " ".join(call["argv"]) for secret in (HOOK_KEY, GENERATED, GHCR_TOKEN, RENDER_KEY))
    secret_sets = [call["argv"] for call in gh.calls() if call["argv"][:2] == ["secret", "set"]]
    assert secret_sets == [["secret", "set", name, "--repo", "Octo/Forecast"] for name in cr.SECRETS]

    # The check: the hook was called, the service became ready, /predict accepted the key.
    assert len(state["hooks"]) == 1
    assert state["predict_auth"] == [f"Bearer {GENERATED}"]
    assert "| Render deploy | on |" in out
    assert "| API key | on |" in out
    assert "https://render.com/deploy?repo=https%3A%2F%2Fgithub.com%2FOcto%2FForecast" in out
    for secret in (RENDER_KEY, GHCR_TOKEN, HOOK_KEY, GENERATED):
        assert secret not in out


def test_a_public_image_and_a_service_made_from_the_placeholder_are_pointed_at_this_repository(world, capsys):
    base, state, gh = world
    state["public"] = True
    state["service"] = service(image="ghcr.io/someone/mlops-template:latest", credentials=None, url=base)
    state["env"] = {}  # a service without an API_KEY gets a new one
    assert run(base) == 0
    patch = next(r for r in state["requests"] if r["method"] == "PATCH")
    assert patch["path"] == "/v1/services/srv-1"
    assert patch["body"] == {"image": {"ownerId": "own-1", "imagePath": "ghcr.io/octo/forecast:latest"}}
    assert not any(r["path"] == "/v1/registrycredentials" for r in state["requests"])  # public: no credentials
    assert "creds" not in yaml.safe_load(gh.committed_blueprint())["services"][0]["image"]
    (put,) = [r for r in state["requests"] if r["method"] == "PUT"]
    assert put["path"] == "/v1/services/srv-1/env-vars/API_KEY"
    assert gh.secrets()["API_KEY"] == put["body"]["value"]
    assert len(put["body"]["value"]) >= 40
    assert put["body"]["value"] not in capsys.readouterr().out


def test_an_already_connected_repository_changes_nothing_in_render_or_render_yaml(world):
    base, state, gh = world
    state["service"] = service(url=base)
    state["credentials"] = [{"id": "rgc-1", "name": "ghcr-octo", "username": "owner-login"}]
    connected = cr.with_image(BLUEPRINT, "ghcr.io/octo/forecast:latest", "ghcr-octo")
    (gh.directory / "config.json").write_text(json.dumps({"logged_in": True, "blueprint": connected}))
    assert run(base) == 0
    assert gh.committed_blueprint() is None
    assert [r["method"] for r in state["requests"] if r["path"].startswith("/v1/")] == ["GET"] * 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda state, gh, mp: state.update(refuse_key=True), "the API key was refused"),
        (lambda state, gh, mp: mp.setenv("RENDER_DEPLOY_HOOK_URL", "https://api.render.com/deploy/srv-9?key=k"), "belongs to another service"),
        (lambda state, gh, mp: mp.setenv("RENDER_DEPLOY_HOOK_URL", "https://example.com/not-a-hook"), "not a deploy hook URL"),
        (lambda state, gh, mp: (gh.directory / "config.json").write_text(json.dumps({"logged_in": False})), "not logged in: run `gh auth login`"),
        (lambda state, gh, mp: state.update(service=None, owners=[{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]), "pick a Render workspace"),
        (lambda state, gh, mp: state.update(service_after=10**6), "apply the Blueprint, then run this again"),
    ],
)  # fmt: skip
def test_a_failed_step_is_one_clear_error_and_sets_no_secret(world, monkeypatch, capsys, change, message):
    base, state, gh = world
    state["service"] = state["service_template"]
    change(state, gh, monkeypatch)
    assert run(base, "--wait", "0.05") == 1
    out = capsys.readouterr().out
    assert message in out
    assert gh.secrets() == {}
    assert state["hooks"] == []
    for secret in (RENDER_KEY, GHCR_TOKEN, HOOK_KEY, GENERATED):
        assert secret not in out


def test_a_service_of_the_same_name_in_another_workspace_is_left_alone(world):
    base, state, gh = world
    state["owners"] = [{"id": "own-0", "name": "Other"}, {"id": "own-1", "name": "My Workspace"}]
    state["service"] = {**service(image="ghcr.io/someone/else:latest", url=base), "ownerId": "own-0"}
    assert run(base, "--workspace", "My Workspace", "--wait", "0.05") == 1  # ours never appears
    assert not any(r["method"] in ("PATCH", "PUT") for r in state["requests"])
    assert gh.secrets() == {}


def test_a_named_workspace_is_used_when_there_are_several(world):
    base, state, _ = world
    state["owners"] = [{"id": "own-0", "name": "Other"}, {"id": "own-1", "name": "My Workspace"}]
    state["service"], state["service_after"] = state["service_template"], 2
    assert run(base, "--workspace", "My Workspace") == 0
    created = next(r for r in state["requests"] if r["method"] == "POST" and r["path"] == "/v1/registrycredentials")
    assert created["body"]["ownerId"] == "own-1"


def test_the_hook_is_checked_and_a_service_that_never_gets_ready_fails(world, capsys):
    base, state, _ = world
    state["service"] = service(url="http://127.0.0.1:9")  # nothing listens there
    assert run(base, "--ready-timeout", "0.05") == 1
    assert "/ready did not answer 200" in capsys.readouterr().out
    assert len(state["hooks"]) == 1


# --- render.yaml edits ----------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [None, "ghcr-someone"])
def test_with_image_keeps_everything_else_and_validates(credentials):
    edited = cr.with_image(BLUEPRINT, "ghcr.io/someone/fork:latest", credentials)
    before, after = yaml.safe_load(BLUEPRINT)["services"][0], yaml.safe_load(edited)["services"][0]
    expected_image = {"url": "ghcr.io/someone/fork:latest"}
    if credentials:
        expected_image["creds"] = {"fromRegistryCreds": {"name": credentials}}
    assert after["image"] == expected_image
    assert {k: v for k, v in after.items() if k != "image"} == {k: v for k, v in before.items() if k != "image"}
    assert [line for line in edited.splitlines() if line.lstrip().startswith("#")] == [
        line for line in BLUEPRINT.splitlines() if line.lstrip().startswith("#")
    ]
    # Idempotent, and credentials can be removed again (the package was made public).
    assert cr.with_image(edited, "ghcr.io/someone/fork:latest", credentials) == edited
    assert cr.with_image(edited, "ghcr.io/octo/forecast:latest", None) == cr.with_image(
        BLUEPRINT, "ghcr.io/octo/forecast:latest", None
    )


def test_the_blueprint_names_the_service_and_asks_nothing_at_creation():
    assert cr.blueprint_service_name(BLUEPRINT) == SERVICE_NAME
    for variable in yaml.safe_load(BLUEPRINT)["services"][0]["envVars"]:
        assert variable.get("sync", True) is not False, f"{variable['key']}: Render would prompt for it"


@pytest.mark.parametrize(
    "hook",
    [
        "https://api.render.com/deploy/srv-abc123",
        "https://api.render.com/other/srv-abc?key=k",
        "ftp://api.render.com/deploy/srv-a?key=k",
    ],
)
def test_only_a_real_looking_deploy_hook_is_accepted(hook):
    with pytest.raises(cr.ConnectError, match="not a deploy hook URL"):
        cr.hook_service_id(hook)
    assert cr.hook_service_id("https://api.render.com/deploy/srv-abc123?key=k") == "srv-abc123"


def test_make_connect_render_runs_without_the_projects_environment(tmp_path):
    """Like make deploy, it needs only python3 and gh: no `make setup`."""
    env = {key: value for key, value in os.environ.items() if key not in ("RENDER_API_KEY", "VIRTUAL_ENV")}
    env["PATH"] = f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin"  # no gh, no .venv
    done = subprocess.run(
        ["make", "-s", "connect-render"],
        cwd=ROOT,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "no value given for RENDER_API_KEY" in done.stdout
