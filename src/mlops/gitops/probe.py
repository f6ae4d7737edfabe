"""Polling an HTTP endpoint until it answers as expected: readiness checks and deploy verification.

Standard library only, so every environment (serving image, CI runner, tests) can use it.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all (refused, timed out, DNS)
    body: bytes
    error: str | None = None

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def http_url_problem(url: str) -> str | None:
    """Why `url` is no http(s) URL a request can go to, or None. The URL itself is never quoted:
    it may hold a secret (a deploy hook's key)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError as error:
        return f"not a valid URL ({type(error).__name__})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL with a host"
    if any(character.isspace() for character in url):
        return "holds white space"
    return None


def request(
    url: str, *, method: str = "GET", data: bytes | None = None, headers: dict | None = None, timeout: float = 10
) -> Answer:
    """One HTTP request; errors become an Answer instead of an exception."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 (scheme checked)
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
    except (ValueError, http.client.InvalidURL) as error:  # not quoted: the URL may hold a secret
        return Answer(None, b"", f"invalid URL ({type(error).__name__})")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, b"", f"{type(reason).__name__}: {reason}")


def wait_for(
    url: str,
    *,
    accept: Callable[[Answer], bool] = lambda answer: answer.status == 200,
    timeout: float = 60,
    interval: float = 0.05,
    alive: Callable[[], bool] = lambda: True,
    headers: dict | None = None,
) -> tuple[float, Answer]:
    """Poll `url` until `accept(answer)`; return the seconds it took and that answer.

    Raises TimeoutError with the last answer seen, or RuntimeError when `alive()` turns false
    (the process behind the URL died).
    """
    started = time.monotonic()
    last = Answer(None, b"", "not polled yet")
    while True:
        if not alive():
            raise RuntimeError(f"{url}: the server exited before it answered as expected")
        last = request(url, timeout=min(10.0, max(1.0, timeout)), headers=headers)
        if accept(last):
            return time.monotonic() - started, last
        if time.monotonic() - started >= timeout:
            seen = last.error or f"HTTP {last.status}: {last.body[:200].decode(errors='replace')}"
            raise TimeoutError(f"{url}: not as expected after {timeout:.0f} s (last answer: {seen})")
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    """`python -m mlops.gitops.probe [URL]`: exit 0 when URL answers 200 (the container HEALTHCHECK).

    Default URL: http://127.0.0.1:$PORT/health. Standard library only: no curl in the image.
    """
    import os
    import sys

    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
    answer = request(url, timeout=4)
    if answer.status == 200:
        return 0
    print(f"unhealthy: {url}: {answer.error or f'HTTP {answer.status}'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
