"""Compile bytecode for exactly the modules serving imports (run once, at image build time).

Precompiled bytecode keeps the container's cold start fast (it cannot write bytecode at run
time: PYTHONDONTWRITEBYTECODE, read-only site-packages). Compiling all of site-packages would
add ~50 MB; the modules a running server imports are less than half of that.
"""

from __future__ import annotations

import compileall
import importlib
import sys

# What gunicorn itself imports to run the app (the app's own imports are found by running it).
SERVER_MODULES = (
    "gunicorn.app.wsgiapp",
    "gunicorn.arbiter",
    "gunicorn.glogging",
    "gunicorn.workers.gthread",
    "mlops.gunicorn_worker",  # our worker class (gthread, extended)
    "prometheus_client.multiprocess",
    "mlops.gitops.probe",
)


def imported_sources(prefix: str) -> list[str]:
    """The .py files of every loaded module that lives under `prefix`."""
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return sorted(f for f in files if f and f.startswith(prefix) and f.endswith(".py"))


def main() -> int:
    from mlops.api import create_app

    for name in SERVER_MODULES:
        importlib.import_module(name)
    app = create_app()  # loads the model and runs its self-check prediction
    client = app.test_client()
    example = app.extensions["mlops"].predictor.schema.example_record()
    for response in (
        client.post("/predict", json=example),
        client.post("/predict", json={"records": [example, {}]}),
        *(
            client.get(path)
            for path in ("/", "/docs", "/openapi.json", "/metadata", "/metrics", "/monitoring/drift", "/ready", "/nope")
        ),
    ):
        response.close()
    # What serving loads only when it needs it: the Pipeline (scikit-learn) when the fast path is
    # off or calls the estimator, pandas and scipy on the first drift report (requested above).
    predictor = app.extensions["mlops"].predictor
    predictor._predict_frame(predictor.schema.to_frame([example]))
    sources = imported_sources(sys.prefix)
    ok = all(compileall.compile_file(source, quiet=2) for source in sources)
    print(f"precompiled {len(sources)} modules", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
