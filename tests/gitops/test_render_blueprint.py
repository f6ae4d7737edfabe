"""render.yaml: the service Render runs. (`make lint RENDER_SCHEMA=...` also checks Render's schema.)"""

import yaml

from conftest import ROOT


def blueprint() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())["services"][0]


def test_a_free_web_service_running_the_ghcr_image():
    service = blueprint()
    assert service["type"] == "web"
    assert service["runtime"] == "image"
    assert service["plan"] == "free"
    assert service["image"]["url"].startswith("ghcr.io/")


def test_health_check_is_the_readiness_route(app):
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert blueprint()["healthCheckPath"] == "/ready"
    assert blueprint()["healthCheckPath"] in routes


def test_env_vars_are_ones_the_service_reads_and_secrets_stay_out():
    env = {item["key"]: item for item in blueprint()["envVars"]}
    sources = "".join(path.read_text() for path in (ROOT / "src" / "mlops").rglob("*.py"))
    for key in env:
        assert f'"{key}"' in sources, f"{key} is set in render.yaml but nothing reads it"
    assert env["API_KEY"] == {"key": "API_KEY", "sync": False}
    assert env["WEB_CONCURRENCY"]["value"] == "1"
