"""In-process floor: what one model call costs, with nothing around it (one OpenMP thread).

Run with the serving environment's Python; prints JSON: median milliseconds for 1 and 100 rows,
through the fast path the API serves with (mlops.fast_path) and through the fitted Pipeline; and
one whole 1-row /predict through the Flask app, called in process (no HTTP, no server).
"""

import io
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mlops import fast_path
from mlops.api import create_app, read_parity
from mlops.api.predictor import Predictor
from mlops.api.settings import ApiSettings
from mlops.bundle import load_bundle
from mlops.config import load_config


def median_ms(call, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    config = load_config(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
    bundle = load_bundle(config.paths.model, config.paths.metadata)
    records = json.loads(sys.stdin.read())
    batching_off = config.serve.batching.model_copy(update={"enabled": False})
    fast = Predictor(
        bundle,
        batching_off,
        parity=read_parity(config.paths.parity),
        fast_path_file=fast_path.read_file(config.paths.fast_path),
    )
    if fast.fast is None:
        raise SystemExit(f"the fast path is off: {fast.fast_path_status['reason']}")
    pipeline = Predictor(bundle, batching_off)  # no parity rows: through the Pipeline
    one, hundred = records[:1], records[:100]
    result = {}
    for name, predictor in (("", fast), ("pipeline_", pipeline)):
        for _ in range(5):
            predictor.predict_rows(one)
            predictor.predict_rows(hundred)
        result[f"{name}one_row_ms"] = median_ms(lambda p=predictor: p.predict_rows(one), 200)
        result[f"{name}hundred_rows_ms"] = median_ms(lambda p=predictor: p.predict_rows(hundred), 30)
    result["app_one_row_ms"] = median_ms(app_request(records[0], sys.argv[1] if len(sys.argv) > 1 else None), 200)
    print(json.dumps(result))


def app_request(record: dict, params: str | None):
    """One 1-row POST /predict through the app's WSGI callable, prediction log to /dev/null."""
    from werkzeug.test import EnvironBuilder

    settings = ApiSettings.from_environment({**os.environ, **({"PARAMS_FILE": params} if params else {})})
    app = create_app(replace(settings, prediction_log_stdout=False, prediction_log_file=Path(os.devnull)))
    body = json.dumps(record).encode()
    environ = EnvironBuilder(path="/predict", method="POST", data=body, content_type="application/json").get_environ()

    def call() -> None:
        status = []
        chunks = app(dict(environ, **{"wsgi.input": io.BytesIO(body)}), lambda s, h, e=None: status.append(s))
        b"".join(chunks)
        if not status[0].startswith("200"):
            raise SystemExit(f"/predict answered {status[0]}")

    for _ in range(20):
        call()
    return call


if __name__ == "__main__":
    main()
