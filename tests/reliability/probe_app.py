"""A WSGI app for testing the worker itself: it says which thread answered, has a slow route and
a large answer."""

import threading
import time

LARGE = b"x" * (8 * 1024 * 1024)


def app(environ, start_response):
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    environ["wsgi.input"].read()
    if path == "/slow" or query == "slow":
        time.sleep(0.05)
    body = {"/large": b"x" if query == "small" else LARGE, "/ready": b"ok"}.get(path, b"")
    where = "event loop" if threading.current_thread() is threading.main_thread() else "thread"
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("X-Answered-By", where)]
    start_response("200 OK", headers)
    return [body]
