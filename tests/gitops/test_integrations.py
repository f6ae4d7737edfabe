import pytest

from mlops.gitops import integrations


def dvc_config(tmp_path, url: str, local: str | None = None):
    directory = tmp_path / ".dvc"
    directory.mkdir()
    (directory / "config").write_text(f"[core]\n    remote = demo\n['remote \"demo\"']\n    url = {url}\n")
    if local:
        (directory / "config.local").write_text(local)
    return directory


def test_repository_default_remote_is_the_in_repo_demo_remote():
    assert integrations.default_remote_url() == "demo-remote"


def test_config_local_overrides(tmp_path):
    local = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/path\n"
    assert integrations.default_remote_url(dvc_config(tmp_path, "demo-remote", local)) == "s3://bucket/path"


@pytest.mark.parametrize(
    ("env", "remote", "on"),
    [
        (
            {},
            "demo-remote",
            {"DVC cloud remote": False, "MLflow server": False, "Render deploy": False, "API key": False},
        ),
        (
            {
                "MLFLOW_TRACKING_URI": "https://m",
                "RENDER_DEPLOY_HOOK_URL": "h",
                "RENDER_SERVICE_URL": "s",
                "API_KEY": "k",
            },
            "s3://b/p",
            {"DVC cloud remote": True, "MLflow server": True, "Render deploy": True, "API key": True},
        ),
        ({"RETRAIN_TOKEN": "t"}, None, {"CI on retrain PRs": True, "Render deploy": False}),
        ({"RENDER_DEPLOY_HOOK_URL": "h", "RENDER_SERVICE_URL": " "}, None, {"Render deploy": False}),
    ],
)
def test_each_integration_follows_its_secret(env, remote, on):
    found = {item.name: item.on for item in integrations.integrations(env, remote)}
    assert {name: found[name] for name in on} == on


def test_summary_says_how_to_enable_and_never_prints_values(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("API_KEY", "super-secret-value")
    for name in ("MLFLOW_TRACKING_URI", "RENDER_DEPLOY_HOOK_URL", "RENDER_SERVICE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert integrations.main() == 0
    text = summary.read_text()
    assert "| API key | on |" in text
    assert "| Render deploy | off |" in text
    assert "set the `RENDER_DEPLOY_HOOK_URL`" in text
    assert "super-secret-value" not in text + capsys.readouterr().out


@pytest.mark.parametrize(
    ("present", "missing"),
    [("RENDER_DEPLOY_HOOK_URL", "RENDER_SERVICE_URL"), ("RENDER_SERVICE_URL", "RENDER_DEPLOY_HOOK_URL")],
)
def test_half_a_render_configuration_names_the_missing_secret(present, missing):
    (render,) = [item for item in integrations.integrations({present: "set"}, None) if item.name == "Render deploy"]
    assert not render.on
    assert f"half configured: set `{missing}` too" in render.detail
