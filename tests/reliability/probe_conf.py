"""The API's gunicorn config serving tests/reliability/probe_app instead of the API."""

from pathlib import Path

from mlops.gunicorn_conf import *  # noqa: F403 (every setting and hook of the real config)

pythonpath = str(Path(__file__).parent)
wsgi_app = "probe_app:app"
