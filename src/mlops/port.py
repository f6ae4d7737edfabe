"""Is a TCP port free to listen on? One clear line, before a server starts, when it is not.

    python -m mlops.port --port 8000 --hint "make run PORT={port}"

gunicorn and MLflow's UI retry a busy port for seconds and then print a bare "Can't connect";
this says which port, and suggests a free one in the command the user ran.
"""

from __future__ import annotations

import argparse
import socket
import sys


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind host:port now (as gunicorn binds: SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_near(host: str, port: int, tries: int = 20) -> int | None:
    """The first free port after `port` (within `tries`), to suggest."""
    return next((candidate for candidate in range(port + 1, port + 1 + tries) if port_is_free(host, candidate)), None)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the system has free now (for tests and benchmarks that start servers)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hint", default="PORT={port}", help="the command to suggest; {port} is a free port")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"error: port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    if port_is_free(args.host, args.port):
        return 0
    other = free_port_near(args.host, args.port)
    suggestion = f"; try: {args.hint.format(port=other)}" if other else ""
    print(f"error: port {args.port} on {args.host} is already in use (another server?){suggestion}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
