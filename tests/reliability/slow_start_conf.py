"""The API's gunicorn config with workers that take a second to start: long enough for a test to
send the server a stop signal while a new worker still runs the master's signal handlers."""

import time

from mlops.gunicorn_conf import *  # noqa: F403 (every setting and hook of the real config)


def post_fork(server, worker) -> None:
    time.sleep(1.0)
