"""Deploy an image to Render and verify it live: the one deploy path for merges and rollbacks.

    python -m mlops.gitops.deploy --image ghcr.io/owner/repo@sha256:... --commit <git sha>

1. Calls the service's deploy hook (RENDER_DEPLOY_HOOK_URL) with `imgURL` = the image.
2. Polls RENDER_SERVICE_URL/metadata until it reports `--commit` (bounded wait).
3. Sends a smoke /predict (with API_KEY when set) built from the live feature schema.
Fails (exit 1) when any step does not happen. Without the two Render variables it skips (exit 0)
and says what to set. The hook URL embeds a secret: it is never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlops.gitops.job_files import write_outputs, write_summary
from mlops.gitops.probe import Answer, http_url_problem, request


class DeployError(RuntimeError):
    """A deploy step failed; the message says which, without secrets."""


# What CI tested is what Render runs: an image pinned by digest, a full commit SHA.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
IMAGE_BY_DIGEST = re.compile(rf"[a-z0-9][a-z0-9._/:-]*@{DIGEST.pattern}")
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def check_arguments(image: str, commit: str) -> None:
    if not IMAGE_BY_DIGEST.fullmatch(image):
        raise DeployError(f"--image must be pinned by digest (registry/name@sha256:<64 hex>), got {image!r}")
    if not COMMIT_SHA.fullmatch(commit):
        raise DeployError(f"--commit must be a full 40-character lowercase git SHA, got {commit!r}")


@dataclass(frozen=True)
class Target:
    hook_url: str
    service_url: str
    api_key: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Target | None:
        hook, service = env.get("RENDER_DEPLOY_HOOK_URL", "").strip(), env.get("RENDER_SERVICE_URL", "").strip()
        if not (hook or service):
            return None
        if not (hook and service):  # half configured: a deploy nobody verifies, or none at all
            missing = "RENDER_SERVICE_URL" if hook else "RENDER_DEPLOY_HOOK_URL"
            raise DeployError(f"{missing} is not set: Render deploys need both RENDER_* secrets")
        # Checked here so that no later message ever has to quote the (secret) hook URL.
        for name, value in (("RENDER_DEPLOY_HOOK_URL", hook), ("RENDER_SERVICE_URL", service)):
            problem = http_url_problem(value)
            if problem:
                raise DeployError(f"{name} is {problem} (value not shown)")
        return cls(hook, service.rstrip("/"), env.get("API_KEY") or None)


def hook_request_url(hook_url: str, image: str) -> str:
    """The deploy hook with `imgURL` set (Render deploys exactly that image)."""
    parts = urllib.parse.urlsplit(hook_url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "imgURL"]
    query.append(("imgURL", image))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def trigger(target: Target, image: str) -> None:
    answer = request(hook_request_url(target.hook_url, image), method="POST", data=b"", timeout=30)
    if answer.status is None or not 200 <= answer.status < 300:
        seen = answer.error or f"HTTP {answer.status}"
        raise DeployError(f"the deploy hook refused the deploy ({seen}); check RENDER_DEPLOY_HOOK_URL")


def wait_for_commit(
    target: Target,
    commit: str,
    *,
    timeout: float,
    interval: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll /metadata until the live service reports `commit`; return that metadata."""
    deadline = clock() + timeout
    last = "no answer yet"
    while True:
        answer = request(f"{target.service_url}/metadata", timeout=15)
        live = _commit_of(answer)
        if live == commit:
            return answer.json()
        last = f"commit {live[:12]}" if live else (answer.error or f"HTTP {answer.status}")
        say(f"waiting for {commit[:12]}: live service reports {last}")
        if clock() >= deadline:
            raise DeployError(
                f"{target.service_url} did not report commit {commit[:12]} within {timeout:.0f} s (last: {last})"
            )
        sleep(interval)


def _commit_of(answer: Answer) -> str | None:
    body = answer.json() if answer.status == 200 else None
    commit = body.get("commit") if isinstance(body, dict) else None
    return commit if isinstance(commit, str) else None


def smoke_predict(target: Target, metadata: dict) -> float | str:
    """One prediction for a typical record of the live schema: a finite number (regression) or a
    label (classification)."""
    schema = metadata.get("schema")
    features = schema.get("features") if isinstance(schema, dict) else None
    if not isinstance(features, list) or not all(isinstance(f, dict) and "name" in f for f in features):
        raise DeployError(f"{target.service_url}/metadata holds no feature schema to send a smoke prediction with")
    record = {feature["name"]: feature.get("typical") for feature in features}
    headers = {"Content-Type": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    answer = request(f"{target.service_url}/predict", method="POST", data=json.dumps(record).encode(), headers=headers)
    body = answer.json() if answer.status == 200 else None
    value = body.get("prediction") if isinstance(body, dict) else None
    label = isinstance(value, str) and bool(value)
    if isinstance(value, bool) or not (label or _finite(value)):
        raise DeployError(f"smoke /predict failed ({answer.error or f'HTTP {answer.status}'})")
    return value


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def deploy(target: Target, image: str, commit: str, *, timeout: float, interval: float, say: Callable[[str], None]):
    say(f"deploying {image} (commit {commit[:12]}) through the deploy hook")
    trigger(target, image)
    metadata = wait_for_commit(target, commit, timeout=timeout, interval=interval, say=say)
    say(f"{target.service_url} is serving commit {commit[:12]} (model {metadata.get('model', {}).get('version')})")
    prediction = smoke_predict(target, metadata)
    shown = f"{prediction:,.2f}" if isinstance(prediction, float) else repr(prediction)
    say(f"smoke /predict answered {shown}")
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="image reference to deploy, ideally by digest")
    parser.add_argument("--commit", required=True, help="git commit the live /metadata must report")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the new commit (default: 900)")
    parser.add_argument("--interval", type=float, default=15, help="seconds between polls (default: 15)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[deploy] {message}", flush=True)

    try:
        # Secrets first: without them there is nothing to deploy to, whatever the arguments.
        target = Target.from_environment(os.environ)
        if target is not None:
            check_arguments(args.image, args.commit)
    except DeployError as error:
        say(f"error: {error}")
        write_summary(f"- ❌ Render deploy failed: {error}")
        return 2
    if target is None:
        message = (
            "Render deploy skipped: set the RENDER_DEPLOY_HOOK_URL and RENDER_SERVICE_URL secrets "
            "(README: Use this template) to deploy on merge."
        )
        say(message)
        write_summary(f"- {message}")
        write_outputs(deployed="false")  # later steps (moving `latest` on a rollback) check it
        return 0
    try:
        deploy(target, args.image, args.commit, timeout=args.timeout, interval=args.interval, say=say)
    except DeployError as error:
        say(f"error: {error}")
        write_summary(f"- ❌ Render deploy failed: {error}")
        return 1
    write_summary(
        f"- ✅ Deployed `{args.image}` to {target.service_url}; live at commit `{args.commit[:12]}`, smoke /predict OK"
    )
    write_outputs(deployed="true")
    return 0


if __name__ == "__main__":
    sys.exit(main())
