"""The scheduled drift check against a fake service and a fake GitHub API on 127.0.0.1."""

import os
import urllib.parse
from typing import ClassVar

import pytest

from mlops.gitops import drift_check

from fake_http import JsonHandler, serve

TOKEN = "ghs_fake-token-value"
BOT = {"body": f"The live service reports drift...\n{drift_check.MARKER}"}  # an issue the check wrote


def report(verdict: str, age: dict | None = None) -> dict:
    feature = {
        "name": "feature_a",
        "psi": 1.5 if verdict == "drift" else 0.01,
        "ks_pvalue": 1e-9,
        "drifted": verdict == "drift",
    }
    return {
        "verdict": verdict,
        "rows": 900,
        "thresholds": {"psi": 0.2, "ks_alpha": 0.001},
        "features": [feature],
        "prediction": {"name": "prediction", "psi": 0.5, "ks_pvalue": 1e-5, "drifted": verdict == "drift"},
        "drifted": ["feature_a", "prediction"] if verdict == "drift" else [],
        "window": {"oldest": "2026-11-26T00:00:00+00:00", "newest": "2026-11-26T06:00:00+00:00", "workers": 2},
        "model_version": "abc123",
        **({"model_age": age} if age else {}),  # absent: a service from before model ages
    }


def age(days: float, limit: float | None = 90) -> dict:
    """The service's model_age block (mlops.api.monitoring.model_age)."""
    return {
        "trained_at": "2026-01-01T00:00:00+00:00",
        "age_days": days,
        "max_age_days": limit,
        "stale": limit is not None and days > limit,
    }


class Fake(JsonHandler):
    state: ClassVar[dict] = {}

    def _record(self):
        entry = (self.command, urllib.parse.urlsplit(self.path).path, self.body())
        type(self).state["calls"].append(entry)
        type(self).state["auth"].add(self.headers.get("Authorization"))
        return entry

    def do_GET(self):
        state = type(self).state
        if self.path == "/ready":  # asleep (503) for the first `asleep` polls, then ready
            state["ready_polls"] += 1
            self.reply(503 if state["ready_polls"] <= state["asleep"] else 200, {})
            return
        if self.path == "/monitoring/drift":
            state["drift_reads"] += 1
            self.reply(200, report(state["verdict"], state["age"]))
            return
        self._record()
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        assert query == {"state": "open", "labels": "drift", "per_page": "100"}
        self.reply(200, state["open"])

    def do_POST(self):
        _, path, _ = self._record()
        self.reply(201, {"number": 7} if path.endswith("/issues") else {"id": 1})

    def do_PATCH(self):
        self._record()
        self.reply(200, {"number": 7})


@pytest.fixture
def fake(monkeypatch, tmp_path):
    Fake.state = {
        "verdict": "drift",
        "open": [],
        "calls": [],
        "auth": set(),
        "asleep": 0,
        "ready_polls": 0,
        "drift_reads": 0,
        "age": None,
    }
    with serve(Fake) as url:
        monkeypatch.setenv("RENDER_SERVICE_URL", url)
        monkeypatch.setenv("GITHUB_API_URL", url)
        monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
        yield Fake.state


def test_drift_opens_a_labelled_issue(fake, capsys):
    assert drift_check.main() == 0
    method, path, body = fake["calls"][-1]
    assert (method, path) == ("POST", "/repos/owner/repo/issues")
    assert body["labels"] == ["drift"]
    assert "**feature_a, prediction**" in body["body"]
    assert "| feature_a | 1.500 |" in body["body"]
    assert os.environ["RENDER_SERVICE_URL"] not in body["body"]  # the issue may be public; the URL is a secret
    assert fake["auth"] == {f"Bearer {TOKEN}"}
    assert TOKEN not in capsys.readouterr().out
    assert body["body"].rstrip().endswith(drift_check.MARKER)  # how the next run finds it again


def test_drift_updates_the_open_issue_instead_of_opening_another(fake):
    fake["open"] = [{"number": 4, "pull_request": {}, **BOT}, {"number": 3, "title": "x", **BOT}]
    assert drift_check.main() == 0
    assert [call[:2] for call in fake["calls"]] == [
        ("GET", "/repos/owner/repo/issues"),
        ("PATCH", "/repos/owner/repo/issues/3"),
    ]


def test_back_within_thresholds_closes_it(fake, tmp_path):
    fake["verdict"] = "ok"
    fake["open"] = [{"number": 3, **BOT}]
    assert drift_check.main() == 0
    assert [call[:2] for call in fake["calls"][1:]] == [
        ("POST", "/repos/owner/repo/issues/3/comments"),
        ("PATCH", "/repos/owner/repo/issues/3"),
    ]
    assert fake["calls"][-1][2]["state"] == "closed"
    assert "closed issue #3" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(("verdict", "issues"), [("ok", []), ("insufficient_data", [{"number": 3, **BOT}])])
def test_nothing_to_change(fake, verdict, issues):
    fake["verdict"] = verdict
    fake["open"] = issues
    assert drift_check.main() == 0
    assert [call[0] for call in fake["calls"]] == ["GET"]


@pytest.mark.parametrize("body", [None, "", "Inputs look off since Monday; see the dashboard."])
def test_a_person_s_drift_issue_is_left_alone(fake, body):
    fake["open"] = [{"number": 5, "body": body}, {"number": 3, **BOT}]
    fake["verdict"] = "ok"
    assert drift_check.main() == 0
    assert ("PATCH", "/repos/owner/repo/issues/3") in [call[:2] for call in fake["calls"]]
    assert not [call for call in fake["calls"] if "/issues/5" in call[1]]

    fake["calls"].clear()
    fake["open"] = [{"number": 5, "body": body}]  # only the person's: drift opens the check's own
    fake["verdict"] = "drift"
    assert drift_check.main() == 0
    assert [call[:2] for call in fake["calls"]] == [
        ("GET", "/repos/owner/repo/issues"),
        ("POST", "/repos/owner/repo/issues"),
    ]


def test_waits_for_a_sleeping_service_to_wake(fake):
    fake["asleep"] = 3
    assert drift_check.main(ready_timeout=10, ready_interval=0.01) == 0
    assert fake["ready_polls"] == 4
    assert fake["drift_reads"] == 1
    assert fake["calls"][-1][:2] == ("POST", "/repos/owner/repo/issues")


def test_a_service_that_never_wakes_fails_and_changes_nothing(fake, capsys):
    fake["asleep"] = 10**6
    fake["open"] = [{"number": 3, **BOT}]
    assert drift_check.main(ready_timeout=0.3, ready_interval=0.01) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line, no traceback
    assert "/ready did not answer 200 within 0.3 s (last: HTTP 503)" in out
    assert fake["drift_reads"] == 0
    assert fake["calls"] == []


def test_skips_without_a_service(monkeypatch, tmp_path):
    monkeypatch.delenv("RENDER_SERVICE_URL", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    assert drift_check.main() == 0
    assert "set the RENDER_SERVICE_URL secret" in (tmp_path / "summary.md").read_text()


def test_an_unreachable_service_fails(fake, monkeypatch, capsys):
    monkeypatch.setenv("RENDER_SERVICE_URL", "http://127.0.0.1:9")
    assert drift_check.main(ready_timeout=0.2, ready_interval=0.01) == 1
    out = capsys.readouterr().out
    assert "/ready did not answer 200 within 0.2 s (last: ConnectionRefusedError" in out
    assert fake["calls"] == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc", "https://[render", "render.example.com"])
def test_a_malformed_service_url_fails_at_once(fake, monkeypatch, capsys, url):
    monkeypatch.setenv("RENDER_SERVICE_URL", url)
    assert drift_check.main(ready_timeout=60, ready_interval=0.01) == 1  # no minute of polling
    assert "RENDER_SERVICE_URL is not a" in capsys.readouterr().out
    assert fake["calls"] == []


def test_a_ready_service_without_a_drift_report_fails(fake, monkeypatch, capsys):
    monkeypatch.setattr(Fake, "do_GET", _no_drift_endpoint)
    assert drift_check.main(ready_timeout=1, ready_interval=0.01) == 1
    assert "/monitoring/drift answered 404" in capsys.readouterr().out
    assert fake["calls"] == []


def _no_drift_endpoint(self):
    self.reply(200 if self.path == "/ready" else 404, {})


def test_github_errors_fail_clearly(fake, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_TOKEN")
    assert drift_check.main() == 1
    assert "GITHUB_TOKEN and GITHUB_REPOSITORY must be set" in capsys.readouterr().out


@pytest.mark.parametrize("verdict", ["ok", "insufficient_data"])
def test_a_model_older_than_the_limit_opens_an_issue_without_drift(fake, verdict):
    fake["verdict"], fake["age"] = verdict, age(days=120.4)
    assert drift_check.main() == 0
    method, path, body = fake["calls"][-1]
    assert (method, path) == ("POST", "/repos/owner/repo/issues")
    assert body["title"] == drift_check.STALE_TITLE
    assert body["labels"] == ["drift"]
    assert "120 days ago: **older than `monitor.max_model_age_days` (90)**" in body["body"]
    assert "drift in:" not in body["body"]
    assert body["body"].rstrip().endswith(drift_check.MARKER)


def test_drift_and_age_share_one_issue(fake):
    fake["age"] = age(days=400)
    fake["open"] = [{"number": 3, "title": drift_check.STALE_TITLE, **BOT}]
    assert drift_check.main() == 0
    method, path, body = fake["calls"][-1]
    assert (method, path) == ("PATCH", "/repos/owner/repo/issues/3")
    assert body["title"] == drift_check.TITLE  # drift names the issue; the age is a line in it
    assert "| feature_a | 1.500 |" in body["body"]
    assert "400 days ago: **older than" in body["body"]


def test_a_fresh_model_is_reported_but_not_flagged(fake):
    fake["age"] = age(days=3)
    assert drift_check.main() == 0
    body = fake["calls"][-1][2]
    assert body["title"] == drift_check.TITLE
    assert "Model `abc123` was trained at 2026-01-01T00:00:00+00:00, 3 days ago (limit: 90 days)." in body["body"]


@pytest.mark.parametrize(("limit", "days"), [(90, 89.9), (None, 5000)])
def test_within_the_limit_or_without_one_no_issue_opens(fake, limit, days):
    fake["verdict"], fake["age"] = "ok", age(days=days, limit=limit)
    assert drift_check.main() == 0
    assert [call[0] for call in fake["calls"]] == ["GET"]


def test_an_age_issue_closes_once_a_fresh_model_serves_even_without_traffic(fake):
    fake["verdict"], fake["age"] = "insufficient_data", age(days=1)
    fake["open"] = [{"number": 3, "title": drift_check.STALE_TITLE, **BOT}]
    assert drift_check.main() == 0
    assert [call[:2] for call in fake["calls"][1:]] == [
        ("POST", "/repos/owner/repo/issues/3/comments"),
        ("PATCH", "/repos/owner/repo/issues/3"),
    ]
    assert fake["calls"][1][2]["body"] == "A fresh model serves now: closing."


def test_a_drift_issue_stays_open_while_there_is_too_little_traffic(fake):
    fake["verdict"], fake["age"] = "insufficient_data", age(days=1)
    fake["open"] = [{"number": 3, "title": drift_check.TITLE, **BOT}]
    assert drift_check.main() == 0
    assert [call[0] for call in fake["calls"]] == ["GET"]


def test_an_unknown_training_time_is_said_plainly(fake):
    fake["age"] = {"trained_at": None, "age_days": None, "max_age_days": 90, "stale": None}
    assert drift_check.main() == 0
    body = fake["calls"][-1][2]["body"]
    assert "When model `abc123` was trained is unknown" in body
