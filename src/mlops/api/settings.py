"""What the API needs to start: params.yaml's `serve` section and paths, plus the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.config import DEFAULT_PARAMS, ConfigError, MonitorConfig, ServeConfig, load_config
from mlops.provenance import git_commit


class SettingsError(RuntimeError):
    """The server's configuration cannot be read (a RuntimeError: gunicorn prints it in one line)."""


@dataclass(frozen=True)
class ApiSettings:
    model: Path
    metadata: Path
    run: Path
    metrics: Path
    reference: Path
    serve: ServeConfig
    monitor: MonitorConfig
    commit: str
    build_time: str | None = None
    prediction_log_file: Path | None = None
    prediction_log_stdout: bool = True
    monitoring_dir: Path | None = None  # shared by workers (set by the gunicorn config)
    api_key: str | None = field(default=None, repr=False)  # never printed
    parity: Path | None = None  # the fast path's parity rows (paths.parity); None: serve the Pipeline
    fast_path: Path | None = None  # the fast path itself (paths.fast_path)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        """params.yaml (PARAMS_FILE) for paths and knobs; deployment settings from variables:
        API_KEY, PREDICTION_LOG_FILE, PREDICTION_LOG_STDOUT (0 to silence), GIT_COMMIT (baked into
        the image), BUILD_TIME."""
        try:
            config = load_config(Path(environ.get("PARAMS_FILE") or DEFAULT_PARAMS))
        except ConfigError as error:
            raise SettingsError(str(error)) from None
        log_file = environ.get("PREDICTION_LOG_FILE", "").strip()
        return cls(
            model=config.paths.model,
            metadata=config.paths.metadata,
            run=config.paths.run,
            metrics=config.paths.metrics,
            reference=config.paths.reference,
            serve=config.serve,
            monitor=config.monitor,
            commit=environ.get("GIT_COMMIT", "").strip() or git_commit(),
            build_time=environ.get("BUILD_TIME", "").strip() or None,
            prediction_log_file=Path(log_file) if log_file else None,
            prediction_log_stdout=environ.get("PREDICTION_LOG_STDOUT", "1").strip().lower() not in {"0", "false", "no"},
            api_key=environ.get("API_KEY") or None,
            monitoring_dir=Path(environ["MONITORING_DIR"]) if environ.get("MONITORING_DIR") else None,
            parity=config.paths.parity,
            fast_path=config.paths.fast_path,
        )
