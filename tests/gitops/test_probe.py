import http.server

import pytest

from mlops.gitops.probe import request, wait_for

from fake_http import serve


class Flipping(http.server.BaseHTTPRequestHandler):
    """503 for the first few polls, then 200; 404 elsewhere."""

    polls = 0

    def do_GET(self):
        if self.path != "/ready":
            self.send_error(404)
            return
        type(self).polls += 1
        status = 200 if type(self).polls > 3 else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ok": %s}' % (b"true" if status == 200 else b"false"))

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Flipping.polls = 0
    with serve(Flipping) as url:
        yield url


def test_wait_for_polls_until_accepted(server):
    _, answer = wait_for(f"{server}/ready", interval=0.01, timeout=10)
    assert answer.status == 200
    assert answer.json() == {"ok": True}
    assert Flipping.polls == 4


def test_wait_for_times_out_with_the_last_answer(server):
    with pytest.raises(TimeoutError, match=r"last answer: HTTP 404"):
        wait_for(f"{server}/missing", timeout=0.2, interval=0.01)


def test_wait_for_stops_when_the_process_dies(server):
    with pytest.raises(RuntimeError, match="exited"):
        wait_for(f"{server}/missing", alive=lambda: False)


def test_request_reports_connection_errors():
    answer = request("http://127.0.0.1:9/", timeout=1)
    assert answer.status is None
    assert "refused" in answer.error.lower()
    assert answer.json() is None


def test_cli_exit_code_follows_the_answer(server, monkeypatch, capsys):
    from mlops.gitops.probe import main

    Flipping.polls = 10
    assert main([f"{server}/ready"]) == 0
    assert main([f"{server}/missing"]) == 1
    monkeypatch.setenv("PORT", "9")
    assert main([]) == 1
    assert "unhealthy: http://127.0.0.1:9/health" in capsys.readouterr().err
