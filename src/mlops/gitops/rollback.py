"""Resolve what to roll back to: an image tag or commit -> the image by digest and its commit.

    python -m mlops.gitops.rollback --requested sha-1a2b3c4     (or a full 40-character commit SHA)

Asks the registry through `docker buildx imagetools inspect` (the runner is logged in to GHCR)
and writes `image=<name>@sha256:...` and `commit=<sha>` to $GITHUB_OUTPUT for the deploy step.
The commit comes from the image's own `org.opencontainers.image.revision` label, so the live
check waits for the commit the image was built from. Standard library only (like mlops.gitops.deploy,
whose digest and commit patterns it shares).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping

from mlops.gitops.deploy import COMMIT_SHA as COMMIT
from mlops.gitops.deploy import DIGEST
from mlops.gitops.job_files import write_outputs, write_summary

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
REVISION = "org.opencontainers.image.revision"


class ResolveError(RuntimeError):
    """The request or the registry's answer is not usable; the message says which."""


def image_tag(requested: str) -> str:
    """The GHCR tag for a tag or a full commit SHA (CI tags every main commit `sha-<7>`)."""
    requested = requested.strip()
    if COMMIT.fullmatch(requested):
        return f"sha-{requested[:7]}"
    if TAG.fullmatch(requested):
        return requested
    raise ResolveError(f"not an image tag or a 40-character commit SHA: {requested!r}")


# What docker printed -> the cause to report (first match wins; network before "no such").
FAILURES = (
    (re.compile(r"is not a docker command|unknown command|unknown flag", re.I),
     "docker buildx is not available (install Docker's buildx plugin)"),
    (re.compile(r"unauthorized|denied|authentication required|forbidden", re.I),
     "the registry refused access (log in: docker login ghcr.io)"),
    (re.compile(r"dial tcp|no such host|i/o timeout|connection refused", re.I), "the registry could not be reached"),
    (re.compile(r"not found|manifest unknown|name unknown", re.I), "the registry has no such image"),
)  # fmt: skip


def failure_cause(stderr: str) -> str:
    """Why `docker buildx imagetools inspect` failed, in words, with the line of docker's that says so."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()] or ["no output"]
    for pattern, cause in FAILURES:
        line = next((line for line in lines if pattern.search(line)), None)
        if line:
            return f"{cause} ({line})"
    return f"docker buildx imagetools failed ({lines[-1]})"


def docker_inspect(reference: str, field: str) -> object:
    """`docker buildx imagetools inspect` one field of a registry image, as JSON."""
    command = ["docker", "buildx", "imagetools", "inspect", reference, "--format", f"{{{{json .{field}}}}}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ResolveError("docker is not installed: resolving an image needs docker buildx imagetools") from None
    if done.returncode != 0:
        raise ResolveError(f"{reference}: {failure_cause(done.stderr)}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise ResolveError(f"{reference}: unexpected answer from docker buildx imagetools") from None


def resolve(name: str, requested: str, inspect: Callable[[str, str], object] = docker_inspect) -> tuple[str, str]:
    """(`name@sha256:...`, commit) for the requested tag or commit."""
    reference = f"{name}:{image_tag(requested)}"
    manifest = inspect(reference, "Manifest")
    digest = manifest.get("digest") if isinstance(manifest, dict) else None
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise ResolveError(f"{reference}: no sha256 digest in the registry's answer")
    image = inspect(reference, "Image")
    if isinstance(image, dict) and "config" not in image and image:  # a multi-platform index
        image = image[sorted(image)[0]]
    config = image.get("config") if isinstance(image, dict) else None
    labels = config.get("Labels") if isinstance(config, dict) else None
    commit = labels.get(REVISION, "") if isinstance(labels, dict) else ""
    if not COMMIT.fullmatch(commit):
        raise ResolveError(f"{reference}: no {REVISION} label with a commit SHA (was it built by CI?)")
    if COMMIT.fullmatch(requested.strip()) and commit != requested.strip():
        raise ResolveError(f"{reference} was built from {commit[:12]}, not {requested.strip()[:12]}")
    return f"{name}@{digest}", commit


def image_name(env: Mapping[str, str]) -> str:
    repository = env.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise ResolveError("GITHUB_REPOSITORY must be set to <owner>/<repo>")
    return f"ghcr.io/{repository.lower()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requested", required=True, help="image tag (sha-1a2b3c4) or full commit SHA")
    args = parser.parse_args(argv)
    try:
        image, commit = resolve(image_name(os.environ), args.requested)
    except ResolveError as error:
        print(f"[rollback] error: {error}", file=sys.stderr)
        return 1
    print(f"[rollback] {args.requested.strip()} is {image} (commit {commit[:12]})")
    write_outputs(image=image, commit=commit)
    write_summary(f"- Rolling back to `{image}` (commit `{commit[:12]}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
