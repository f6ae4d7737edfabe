"""What the drift window costs the prediction path: a model call with and without it.

    make benchmark-monitoring     (after make pipeline)

In process, one OpenMP thread, alternating the two variants; medians. Also times one drift
assessment over a full window (what /monitoring/drift and each /metrics scrape compute).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mlops import fast_path
from mlops.api import read_parity
from mlops.api.drift_window import DriftWindow
from mlops.api.monitoring import drift_report
from mlops.api.predictor import Predictor
from mlops.bundle import load_bundle
from mlops.config import load_config
from mlops.prepare import read_frame
from mlops.provenance import git_commit

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]


def timed(call, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    config = load_config(ROOT / "params.yaml")
    bundle = load_bundle(ROOT / config.paths.model, ROOT / config.paths.metadata)
    reference = json.loads((ROOT / config.paths.reference).read_text())
    test = read_frame(ROOT / config.paths.test, config.data)
    records = json.loads(test[list(config.data.features)].head(100).to_json(orient="records"))
    batching_off = config.serve.batching.model_copy(update={"enabled": False})
    window = DriftWindow(bundle.schema, config.monitor.window_size, Path(tempfile.mkdtemp()))
    served_with = {  # the fast path, as the API serves
        "parity": read_parity(ROOT / config.paths.parity),
        "fast_path_file": fast_path.read_file(ROOT / config.paths.fast_path),
    }
    plain = Predictor(bundle, batching_off, **served_with)
    watched = Predictor(bundle, batching_off, on_predictions=window.add_records, **served_with)
    rows = []
    for size, repeats in ((1, 300), (100, 100)):
        batch = records[:size]
        without, with_window = [], []
        for _ in range(repeats // 10):  # alternate in blocks so drift in machine speed hits both
            without += timed(lambda batch=batch: plain.predict_rows(batch), 10)
            with_window += timed(lambda batch=batch: watched.predict_rows(batch), 10)
        a, b = statistics.median(without), statistics.median(with_window)
        rows.append((size, a, b, 100 * (b - a) / a))
    assess_ms = statistics.median(timed(lambda: drift_report(window, reference, config.monitor), 20))
    section = "\n".join(
        [
            "## Drift monitoring: cost on the prediction path",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}`"
            f" on {machine()}, in process,",
            "one OpenMP thread, the two variants alternating in blocks (medians). Reproduce:",
            "",
            "```bash",
            "make pipeline && make benchmark-monitoring",
            "```",
            "",
            "| model call | without the window (ms) | with the window (ms) | cost |",
            "| --- | ---: | ---: | ---: |",
            *(f"| {size} row(s) | {a:.2f} | {b:.2f} | {pct:+.1f}% |" for size, a, b, pct in rows),
            "",
            f"One drift assessment over a full window ({config.monitor.window_size:,} rows, every feature and the",
            f"predictions): {assess_ms:.1f} ms. It runs on `/monitoring/drift` and on each `/metrics` scrape, not",
            "per prediction. Sharing the window between workers is a background thread writing a",
            f"{config.monitor.window_size:,}-row array to tmpfs at most once a second.",
        ]
    )
    print(section)
    write_section(ROOT / "docs" / "benchmarks.md", "monitoring", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
