"""The scheduled drift check: read the live service's verdict and keep one GitHub issue in step.

    python -m mlops.gitops.drift_check        (make drift-check; the Drift check workflow)

First waits (up to READY_TIMEOUT seconds) for the service's /ready: Render's free plan sleeps
when idle and the first requests wake it. Then, on drift, or when the live model is older than
`monitor.max_model_age_days` (the service reports its age with the drift report): open an issue
labelled `drift` that says which, or update the one already open. Back within thresholds and the
model fresh: comment and close it. Too little traffic to judge drift, and a fresh model: leave it
as it is. Only issues it wrote itself (their body holds MARKER) are touched; an issue a person
labelled `drift` is left alone.
Needs RENDER_SERVICE_URL (skips, exit 0, without it) and GITHUB_TOKEN + GITHUB_REPOSITORY (set
by Actions); GITHUB_API_URL points elsewhere for tests. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from collections.abc import Mapping

from mlops.gitops.job_files import write_summary
from mlops.gitops.probe import Answer, http_url_problem, request, wait_for

LABEL = "drift"
TITLE = "Data drift detected in production"
STALE_TITLE = "The model in production is due for retraining"
# Hidden in the rendered issue; marks the issues this check manages.
MARKER = "<!-- mlops-template: drift-check -->"
# A sleeping free-plan Render service takes up to a minute or so to wake.
READY_TIMEOUT = 120.0
READY_INTERVAL = 5.0


class CheckError(RuntimeError):
    """The service or GitHub did not answer as expected."""


class GitHub:
    def __init__(self, repository: str, token: str, api: str = "https://api.github.com"):
        self.base = f"{api.rstrip('/')}/repos/{repository}"
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        }

    def call(self, method: str, path: str, payload: dict | None = None) -> object:
        data = json.dumps(payload).encode() if payload is not None else None
        answer: Answer = request(f"{self.base}{path}", method=method, data=data, headers=self.headers, timeout=30)
        if answer.status is None or not 200 <= answer.status < 300:
            raise CheckError(f"GitHub {method} {path.split('?')[0]} answered {answer.error or answer.status}")
        return answer.json()

    def open_drift_issue(self) -> dict | None:
        """The open `drift` issue this check wrote (not a pull request, not a person's issue)."""
        query = urllib.parse.urlencode({"state": "open", "labels": LABEL, "per_page": 100})
        issues = self.call("GET", f"/issues?{query}") or []
        issues = [issue for issue in issues if "pull_request" not in issue and MARKER in (issue.get("body") or "")]
        return issues[0] if issues else None


def is_stale(report: dict) -> bool:
    """The service says its model is older than monitor.max_model_age_days."""
    return (report.get("model_age") or {}).get("stale") is True


def issue_title(report: dict) -> str:
    return TITLE if report.get("verdict") == "drift" else STALE_TITLE


def age_line(report: dict) -> str:
    """When the live model was trained, against the age limit."""
    age, model = report.get("model_age") or {}, f"Model `{report.get('model_version')}`"
    limit = age.get("max_age_days")
    if age.get("age_days") is None:
        return f"When {model[0].lower()}{model[1:]} was trained is unknown (see docs/monitoring.md, Model age)."
    line = f"{model} was trained at {age['trained_at']}, {age['age_days']:,.0f} days ago"
    if is_stale(report):
        return f"{line}: **older than `monitor.max_model_age_days` ({limit:g})**. Retrain it (Actions → Retrain)."
    return f"{line} (limit: {limit:g} days)." if limit is not None else f"{line}."


def issue_body(report: dict) -> str:
    """The issue text. No service URL: the repository (and so the issue) may be public."""
    window = report.get("window", {})
    model = f"Model `{report.get('model_version')}`"
    if report.get("verdict") != "drift":
        summary = "No drift found" if report.get("verdict") == "ok" else "Too little recent traffic to judge drift"
        return "\n".join(
            [
                f"The live model is older than `monitor.max_model_age_days`. {summary} "
                f"({report.get('rows', 0):,} recent rows).",
                "",
                age_line(report),
                "",
                "This issue is updated by the daily drift check and closed once a fresh model serves.",
                MARKER,
            ]
        )
    thresholds = report["thresholds"]
    rows = [
        "| feature | PSI | p-value (KS; χ² for categories) | drifted |",
        "| --- | ---: | ---: | --- |",
    ]
    for item in [*report.get("features", []), *([report["prediction"]] if report.get("prediction") else [])]:
        value = item.get("pvalue", item.get("ks_pvalue"))  # a service older than `pvalue` reports only KS
        pvalue = "" if value is None else f"{value:.2g}"
        rows.append(f"| {item['name']} | {item['psi']:.3f} | {pvalue} | {'**yes**' if item['drifted'] else 'no'} |")
    return "\n".join(
        [
            f"The live service reports drift in: **{', '.join(report.get('drifted', []))}**.",
            "",
            f"{model}; window of {report.get('rows', 0):,} recent rows "
            f"({window.get('oldest')} to {window.get('newest')}, {window.get('workers')} worker(s)); "
            f"thresholds: PSI > {thresholds['psi']} (categories: with χ² p < {thresholds['ks_alpha']}), "
            f"KS p < {thresholds['ks_alpha']}.",
            *([age_line(report)] if report.get("model_age") else []),
            "",
            *rows,
            "",
            "Next: look at the data behind it (`make monitor INPUT=<prediction log>` draws each drifted "
            "feature), then retrain on fresh data (Actions → Retrain) and review the PR's report.",
            "This issue is updated by the daily drift check and closed when the service is back within thresholds.",
            MARKER,
        ]
    )


def wait_until_ready(service: str, timeout: float, interval: float) -> None:
    """Poll /ready until it answers 200 (this wakes a sleeping service); CheckError after `timeout`."""
    seen: list[Answer] = []

    def ready(answer: Answer) -> bool:
        seen.append(answer)
        return answer.status == 200

    try:
        wait_for(f"{service}/ready", accept=ready, timeout=timeout, interval=interval)
    except TimeoutError:
        last = seen[-1] if seen else None
        got = "no answer" if last is None else last.error or f"HTTP {last.status}"
        raise CheckError(f"{service}/ready did not answer 200 within {timeout:g} s (last: {got})") from None


def check(
    env: Mapping[str, str], say, *, ready_timeout: float = READY_TIMEOUT, ready_interval: float = READY_INTERVAL
) -> int:
    service = env.get("RENDER_SERVICE_URL", "").strip().rstrip("/")
    if not service:
        say("Drift check skipped: set the RENDER_SERVICE_URL secret to check the live service daily.")
        return 0
    problem = http_url_problem(service)
    if problem:
        raise CheckError(f"RENDER_SERVICE_URL is {problem}")
    wait_until_ready(service, ready_timeout, ready_interval)
    answer = request(f"{service}/monitoring/drift", timeout=30)
    report = answer.json() if answer.status == 200 else None
    if not isinstance(report, dict) or "verdict" not in report:
        raise CheckError(f"{service}/monitoring/drift answered {answer.error or answer.status}")
    if not (env.get("GITHUB_REPOSITORY") and env.get("GITHUB_TOKEN")):
        raise CheckError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set (GitHub Actions sets both)")
    github = GitHub(
        env["GITHUB_REPOSITORY"], env["GITHUB_TOKEN"], env.get("GITHUB_API_URL") or "https://api.github.com"
    )
    issue = github.open_drift_issue()
    verdict, stale = report["verdict"], is_stale(report)
    reasons = ", ".join([*report.get("drifted", []), *(["model age"] if stale else [])])
    if verdict == "drift" or stale:
        content = {"title": issue_title(report), "body": issue_body(report)}
        if issue:
            github.call("PATCH", f"/issues/{issue['number']}", content)
            say(f"Drift check: updated issue #{issue['number']} ({reasons}).")
        else:
            created = github.call("POST", "/issues", {**content, "labels": [LABEL]})
            say(f"Drift check: opened issue #{created['number']} ({reasons}).")
    elif issue and (verdict == "ok" or issue.get("title") == STALE_TITLE):
        # An issue about the model's age alone closes once a fresh model serves, however little traffic it has.
        comment = "Back within thresholds: closing." if verdict == "ok" else "A fresh model serves now: closing."
        github.call("POST", f"/issues/{issue['number']}/comments", {"body": comment})
        github.call("PATCH", f"/issues/{issue['number']}", {"state": "closed", "state_reason": "completed"})
        say(f"No drift{'' if verdict == 'ok' else ' issue to keep'}: closed issue #{issue['number']}.")
    else:
        rows = f"{report.get('rows', 0):,} rows"
        say(f"No drift issue to change: verdict {verdict} ({rows}).")
    return 0


def main(
    argv: list[str] | None = None, *, ready_timeout: float = READY_TIMEOUT, ready_interval: float = READY_INTERVAL
) -> int:
    def say(line: str) -> None:
        print(f"[drift-check] {line}", flush=True)
        write_summary(f"- {line}")

    try:
        return check(os.environ, say, ready_timeout=ready_timeout, ready_interval=ready_interval)
    except CheckError as error:
        say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
