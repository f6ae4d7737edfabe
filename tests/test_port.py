"""The busy-port check that runs before `make serve` / `make run` / `make mlflow-ui` start a server."""

import re
import socket
import subprocess

import pytest

from mlops import port

from conftest import ROOT


@pytest.fixture
def busy():
    """A port something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_free_port_passes_silently(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert port.main(["--port", str(free)]) == 0
    assert capsys.readouterr().err == ""


def test_a_busy_port_is_one_line_suggesting_a_free_port(busy, capsys):
    assert port.main(["--port", str(busy), "--hint", "make run PORT={port}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"port {busy} on 127.0.0.1 is already in use" in err
    suggested = int(re.search(r"try: make run PORT=(\d+)$", err.strip()).group(1))
    assert suggested != busy
    assert port.port_is_free("127.0.0.1", suggested)


@pytest.mark.parametrize("value", ["0", "70000"])
def test_a_port_out_of_range_is_refused(value, capsys):
    assert port.main(["--port", value]) == 2
    assert "is not a TCP port" in capsys.readouterr().err


def test_make_run_on_a_busy_port_says_so_before_starting_anything(busy):
    done = subprocess.run(
        ["make", "serve", f"PORT={busy}"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert f"port {busy} on 127.0.0.1 is already in use" in done.stderr
    assert "make serve PORT=" in done.stderr
    assert "gunicorn" not in done.stdout + done.stderr  # it never started


def test_free_port_is_one_a_server_can_bind(busy):
    found = port.free_port()
    assert found != busy
    assert port.port_is_free("127.0.0.1", found)
