"""In-process floor: what one model call costs, with nothing around it (one OpenMP thread).

Run with the serving environment's Python; prints JSON: median milliseconds for 1 and 100 rows,
through the fast path the API serves with (mlops.fast_path) and through the fitted Pipeline.
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mlops.api import read_parity
from mlops.api.predictor import Predictor
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
    fast = Predictor(bundle, batching_off, parity=read_parity(config.paths.parity))
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
    print(json.dumps(result))


if __name__ == "__main__":
    main()
