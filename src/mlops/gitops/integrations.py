"""Which optional integrations are switched on, and how to switch on the others.

Each one is on when its secret (an environment variable in CI) is set; nothing here prints a
value. `python -m mlops.gitops.integrations` appends the table to $GITHUB_STEP_SUMMARY (or prints it).
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.gitops.job_files import write_summary

CLOUD_SCHEMES = (
    "s3://",
    "gs://",
    "gcs://",
    "azure://",
    "az://",
    "oss://",
    "hdfs://",
    "webdavs://",
    "https://",
    "ssh://",
)


@dataclass(frozen=True)
class Integration:
    name: str
    on: bool
    detail: str  # what it does when on / how to switch it on when off


def default_remote_url(dvc_dir: Path = Path(".dvc")) -> str | None:
    """The URL of DVC's default remote (config.local overrides config), or None."""
    parser = configparser.ConfigParser()
    parser.read([dvc_dir / "config", dvc_dir / "config.local"])
    sections = {name.strip("'\" ").replace('"', ""): section for name, section in parser.items()}
    name = sections.get("core", {}).get("remote")
    remote = sections.get(f"remote {name}") if name else None
    return remote.get("url") if remote else None


def integrations(env: Mapping[str, str], remote_url: str | None) -> list[Integration]:
    def has(*names: str) -> bool:
        return all(env.get(name, "").strip() for name in names)

    cloud = bool(remote_url) and remote_url.startswith(CLOUD_SCHEMES)
    return [
        Integration(
            "DVC cloud remote",
            cloud,
            f"data and pipeline outputs in `{remote_url}`"
            if cloud
            else "data comes from the in-repo demo remote; to use a bucket run `dvc remote add --default --force "
            "storage s3://<bucket>/<path>`, commit `.dvc/config` and add the credentials as secrets "
            "(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; see docs/data.md)",
        ),
        Integration(
            "MLflow server",
            has("MLFLOW_TRACKING_URI"),
            "runs are logged to the `MLFLOW_TRACKING_URI` server and linked from the PR report"
            if has("MLFLOW_TRACKING_URI")
            else "runs go to a throwaway local store; set the `MLFLOW_TRACKING_URI` secret (and "
            "`MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` if it needs them)",
        ),
        render_deploy(has),
        Integration(
            "API key",
            has("API_KEY"),
            "`/predict` requires the key; the deploy smoke test sends it"
            if has("API_KEY")
            else "`/predict` is open, or CI cannot smoke-test it; `make connect-render` copies the key Render "
            "generated (render.yaml) into the `API_KEY` secret",
        ),
        Integration(
            "CI on retrain PRs",
            has("RETRAIN_TOKEN"),
            "the Retrain workflow's PRs run CI (report and quality gate)"
            if has("RETRAIN_TOKEN")
            else "PRs the Retrain workflow opens get no CI run (a GitHub rule for the default token); set a "
            "`RETRAIN_TOKEN` secret (fine-grained token: contents and pull-requests write)",
        ),
    ]


def render_deploy(has) -> Integration:
    hook, service = has("RENDER_DEPLOY_HOOK_URL"), has("RENDER_SERVICE_URL")
    if hook and service:
        return Integration("Render deploy", True, "merges to main deploy the pushed image to Render and verify it live")
    if hook or service:
        missing = "RENDER_SERVICE_URL" if hook else "RENDER_DEPLOY_HOOK_URL"
        return Integration(
            "Render deploy",
            False,
            f"half configured: set `{missing}` too, or rerun `make connect-render` (the deploy job fails until then)",
        )
    return Integration(
        "Render deploy",
        False,
        "images are built but not deployed; run `make connect-render` (docs/deploy.md): it creates the service "
        "from render.yaml and will set the `RENDER_DEPLOY_HOOK_URL` and `RENDER_SERVICE_URL` secrets",
    )


def summary(items: list[Integration]) -> str:
    lines = ["### Integrations", "", "| integration | status | |", "| --- | --- | --- |"]
    lines += [f"| {item.name} | {'on' if item.on else 'off'} | {item.detail} |" for item in items]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    text = summary(integrations(os.environ, default_remote_url()))
    write_summary(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
