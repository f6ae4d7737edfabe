"""In-process floor: what one pipeline.predict costs, with nothing around it (one OpenMP thread).

Run with the serving environment's Python; prints JSON: median milliseconds for 1 and 100 rows.
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

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
    predictor = Predictor(bundle, config.serve.batching.model_copy(update={"enabled": False}))
    one, hundred = records[:1], records[:100]
    for _ in range(5):
        predictor.predict_rows(one)
        predictor.predict_rows(hundred)
    print(
        json.dumps(
            {
                "one_row_ms": median_ms(lambda: predictor.predict_rows(one), 60),
                "hundred_rows_ms": median_ms(lambda: predictor.predict_rows(hundred), 30),
            }
        )
    )


if __name__ == "__main__":
    main()
