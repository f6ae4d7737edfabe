"""The GitHub Actions workflows, parsed from YAML: triggers, job order, permissions, pinning, safety."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
SHA_PIN = re.compile(r"^\s*(?:-\s*)?uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+(\.\d+){0,2}\s*$")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def make_targets() -> set[str]:
    help_text = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in help_text.splitlines() if line.strip().startswith("make ")}


@pytest.fixture(scope="module")
def ci():
    return load(WORKFLOWS / "ci.yml")


def test_the_expected_workflows_exist():
    assert {path.name for path in FILES} >= {
        "ci.yml",
        "pr-comment.yml",
        "rollback.yml",
        "drift-check.yml",
        "retrain.yml",
    }


def test_ci_triggers_and_cancels_superseded_runs(ci):
    assert ci["on"]["push"]["branches"] == ["**"]  # lint, test, repro on every push
    assert "pull_request" in ci["on"]
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.ref != 'refs/heads/main' }}"  # never main
    assert "github.sha" in ci["concurrency"]["group"]  # main: a group per commit, so none is dropped


def test_latest_moves_only_after_the_live_check(ci):
    assert "latest" not in yaml.safe_dump(ci["jobs"]["image"])  # the build pushes sha-<short> only
    runs = [step.get("run", "") for step in ci["jobs"]["deploy"]["steps"]]
    deploy = next(i for i, run in enumerate(runs) if run.startswith("make deploy"))
    promote = next(i for i, run in enumerate(runs) if run.startswith("make promote-image"))
    assert deploy < promote
    steps_ = ci["jobs"]["deploy"]["steps"]
    assert steps_[deploy]["if"] == steps_[promote]["if"] == "steps.newest.outputs.yes == 'true'"  # never an older run


def test_deploy_after_push_after_tests(ci):
    jobs = ci["jobs"]
    assert set(jobs["image"]["needs"]) == {"lint", "test", "pipeline"}
    assert jobs["deploy"]["needs"] == "image"
    assert "refs/heads/main" in jobs["deploy"]["if"]
    assert "push" in jobs["deploy"]["if"]
    assert jobs["image"]["env"]["PUSH"] == "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege_permissions(path):
    workflow = load(path)
    assert workflow["permissions"] == {}, "default to no permissions; jobs ask for theirs"
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{path.name}:{name} must declare its permissions"
        assert "write-all" not in str(granted)
        writes = {scope for scope, level in granted.items() if level == "write"}
        allowed = {
            ("ci.yml", "image"): {"packages"},
            ("ci.yml", "deploy"): {"packages"},  # move `latest` to the verified image
            ("rollback.yml", "rollback"): {"packages"},  # and back, on a rollback
            ("pr-comment.yml", "comment"): {"pull-requests"},
            ("drift-check.yml", "drift"): {"issues"},
            ("retrain.yml", "retrain"): {"contents", "pull-requests"},  # push a branch, open the PR
        }
        assert writes <= allowed.get((path.name, name), set()), f"{path.name}:{name} writes {writes}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    for line in path.read_text().splitlines():
        if re.match(r"^\s*(-\s*)?uses:", line):
            assert SHA_PIN.match(line), f"{path.name}: not pinned to a full SHA with a version comment: {line.strip()}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_untrusted_expressions_in_scripts(path):
    """Event data goes through env:, never straight into a shell script (script injection)."""
    workflow = load(path)
    for job, step in steps(workflow):
        script = step.get("run", "")
        for pattern in ("github.event.", "github.head_ref", "inputs.", "steps.", "needs."):
            assert "${{" not in script or pattern not in script, f"{path.name}:{job}: `{pattern}` in run:"
    assert "pull_request_target" not in path.read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkouts_do_not_keep_the_token(path):
    for job, step in steps(load(path)):
        if "actions/checkout@" in step.get("uses", ""):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{job}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflows_only_call_make_targets_that_exist(path):
    targets = make_targets()
    for job, step in steps(load(path)):
        for target in re.findall(r"\bmake\s+(?:-s\s+)?([a-z][\w-]*)", step.get("run", "")):
            assert target in targets, f"{path.name}:{job} calls `make {target}`, which the Makefile lacks"


def test_the_comment_workflow_never_touches_pr_code():
    workflow = load(WORKFLOWS / "pr-comment.yml")
    assert workflow["on"] == {"workflow_run": {"workflows": ["CI"], "types": ["completed"]}}
    for _, step in steps(workflow):  # only the base repository's own default branch
        if "actions/checkout" in step.get("uses", ""):
            assert set(step.get("with", {})) <= {"path", "persist-credentials"}
            assert step["with"]["persist-credentials"] is False
    runs = [step.get("run", "") for _, step in steps(workflow)]
    made_safe = next(i for i, run in enumerate(runs) if "python3 -m mlops.gitops.pr_comment report" in run)
    posted = next(i for i, run in enumerate(runs) if "comment update" in run)  # one sticky comment
    assert made_safe < posted
    assert runs[posted].rstrip().endswith("report/comment.md")  # what mlops.gitops.pr_comment wrote
    assert any('case "$number" in' in run for run in runs[:made_safe])  # the PR number is validated first


def test_the_pr_report_is_built_in_the_untrusted_workflow_and_uploaded(ci):
    pipeline = ci["jobs"]["pipeline"]
    runs = " ".join(step.get("run", "") for step in pipeline["steps"])
    assert "make ci-report" in runs
    uploads = [step for step in pipeline["steps"] if "upload-artifact" in step.get("uses", "")]
    assert {step["with"]["name"] for step in uploads} == {"pr-report", "model-bundle"}
    assert pipeline["permissions"] == {"contents": "read"}


def test_rollback_uses_the_same_deploy_target():
    workflow = load(WORKFLOWS / "rollback.yml")
    assert workflow["on"]["workflow_dispatch"]["inputs"]["image"]["required"] is True
    runs = [step.get("run", "") for _, step in steps(workflow)]
    assert runs.index("make resolve-image") < next(i for i, run in enumerate(runs) if run.startswith("make deploy "))
    ci_runs = [step.get("run", "") for _, step in steps(load(WORKFLOWS / "ci.yml"))]
    assert any(run.startswith("make deploy ") for run in ci_runs)
    assert workflow["concurrency"]["group"] == load(WORKFLOWS / "ci.yml")["jobs"]["deploy"]["concurrency"]["group"]


def test_secrets_reach_only_env_blocks():
    for path in FILES:
        for job, step in steps(load(path)):
            assert "secrets." not in step.get("run", ""), f"{path.name}:{job}: a secret inside run:"


@pytest.mark.parametrize("name", ["drift-check.yml", "retrain.yml"])
def test_monitoring_workflows_run_on_a_schedule_and_on_demand(name):
    triggers = load(WORKFLOWS / name)["on"]
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"].count(" ") == 4


def test_drift_check_reads_the_live_service_and_manages_an_issue():
    workflow = load(WORKFLOWS / "drift-check.yml")
    (step,) = [step for _, step in steps(workflow) if "run" in step]
    assert step["run"] == "make drift-check"
    assert set(step["env"]) == {"RENDER_SERVICE_URL", "GITHUB_TOKEN"}


def test_retrain_opens_a_pr_and_never_deploys():
    text = (WORKFLOWS / "retrain.yml").read_text()
    runs = [step.get("run", "") for _, step in steps(load(WORKFLOWS / "retrain.yml"))]
    assert "make retrain" in runs
    assert "cml@0.20.5 pr create" in text
    (create,) = [run for run in runs if "pr create" in run]
    assert "--message=" in create  # without a message CML adds [skip ci] and CI never runs on the PR
    assert "--branch=" in create  # CML's default branch name repeats while main has not moved
    assert "make deploy" not in text
    assert "docker" not in text


def test_pr_code_sees_only_whether_deploy_secrets_are_set(ci):
    (step,) = [step for step in ci["jobs"]["pipeline"]["steps"] if step.get("name") == "Integrations"]
    for name in ("RENDER_DEPLOY_HOOK_URL", "RENDER_SERVICE_URL", "API_KEY", "RETRAIN_TOKEN"):
        assert step["env"][name] == f"${{{{ secrets.{name} != '' && 'set' || '' }}}}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_aws_region_is_never_empty(path):
    for job in load(path)["jobs"].values():
        region = job.get("env", {}).get("AWS_DEFAULT_REGION")
        if region is not None:  # boto: an empty region makes an invalid S3 endpoint
            assert "|| 'us-east-1'" in region


def test_every_node_the_workflows_set_up_is_node_24_or_later():
    """Node 20 left the runners; CML (run with npx) uses whatever setup-node installed."""
    versions = []
    for path in FILES:
        for job, step in steps(load(path)):
            if "actions/setup-node@" in step.get("uses", ""):
                version = str(step.get("with", {}).get("node-version", ""))
                versions.append(version)
                assert re.fullmatch(r"\d+", version), f"{path.name}:{job}: pin a major Node version, got {version!r}"
                assert int(version) >= 24, f"{path.name}:{job}: Node {version}"
    assert versions  # the CML steps set one up


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_cml_runs_after_a_node_setup_in_the_same_job(path):
    workflow = load(path)
    for job_name, job in workflow["jobs"].items():
        job_steps = job.get("steps", [])
        for index, step in enumerate(job_steps):
            if "@dvcorg/cml@" in step.get("run", ""):
                assert re.search(r"@dvcorg/cml@\d+\.\d+\.\d+ ", step["run"]), "CML pinned to an exact version"
                setups = [s for s in job_steps[:index] if "actions/setup-node@" in s.get("uses", "")]
                assert setups, f"{path.name}:{job_name}: CML would run on the runner's default Node"


@pytest.fixture(scope="module")
def dependabot():
    return yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())


def test_dependabot_covers_python_actions_and_the_base_image(dependabot):
    assert dependabot["version"] == 2
    updates = {entry["package-ecosystem"]: entry for entry in dependabot["updates"]}
    assert set(updates) >= {"github-actions", "docker"}
    assert {"uv", "pip"} & set(updates), "pyproject.toml/uv.lock need an updater"
    for entry in updates.values():
        assert entry["directory"] == "/"
        assert entry["schedule"]["interval"] in {"daily", "weekly", "monthly"}


def test_the_default_base_image_is_a_digest_pinned_from_line_dependabot_can_read():
    """Dependabot updates FROM lines, not ARG defaults: the default base is a stage of its own."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    (default,) = [line.split("=", 1)[1] for line in lines if line.startswith("ARG PYTHON_IMAGE=")]
    stages = {}
    for index, line in enumerate(lines):
        words = line.split()
        if len(words) == 4 and words[0] == "FROM" and words[2].upper() == "AS":
            stages[words[3]] = (words[1], lines[index - 1])
    image, comment = stages[default]
    match = re.fullmatch(r"([\w./-]+):([\w.-]+)@sha256:[0-9a-f]{64}", image)
    assert match, f"the default base {image!r} is not <name>:<tag>@sha256:<digest>"
    assert comment == f"# {match.group(1)}:{match.group(2)}"  # the tag, readable, in a comment
    uses = [line for line in lines if line.startswith("FROM ${PYTHON_IMAGE}")]
    assert len(uses) == 2  # build and runtime stages both start from the argument
