# syntax=docker/dockerfile:1
# The serving image: the API (gunicorn + Flask) and the trained model bundle, nothing else.
# Build with `make docker-build` (it passes the build arguments below), test with `make docker-test`.

# The base is an argument so it can be swapped (a mirror, a local stand-in). By default it is the
# `python-base` stage below: python:3.12.12-slim-bookworm, pinned by digest. The pin is a FROM line
# of its own because Dependabot (.github/dependabot.yml) updates FROM lines, not ARG defaults.
# When PYTHON_IMAGE names another image, BuildKit skips that stage (and `make docker-build` leaves
# it out, for builders without BuildKit).
ARG PYTHON_IMAGE=python-base

# python:3.12.12-slim-bookworm
FROM python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c AS python-base

# --- build: a virtualenv with the serving dependencies only (uv.lock, no dev/train groups) ---
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
# UV_SYSTEM_CERTS: trust the base image's CA store, as pip does (corporate TLS proxies).
ENV UV_SYSTEM_CERTS=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# binutils for `strip` (build stage only, never shipped); unpinned: the distro's current fix.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# uv in a throwaway venv: works whether or not the base's pip is "externally managed".
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
# Dependencies first (cached until uv.lock changes), then the project itself.
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-install-project --no-editable --no-cache
COPY README.md ./
COPY src/ src/
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-editable --no-cache \
    # Libraries' own test suites are never imported at runtime: ~110 MB less.
    && find /opt/venv -depth -type d -name tests -exec rm -rf {} + \
    # Build-time files: Cython/C sources, headers, type stubs.
    && find /opt/venv \( -name "*.pyx" -o -name "*.pxd" -o -name "*.pyi" -o -name "*.c" -o -name "*.cpp" -o -name "*.h" \) -delete \
    # Symbol tables of extension modules (~13 MB). Not the vendored *.libs: auditwheel's patched
    # ELF files break when stripped.
    && find /opt/venv -name "*.cpython-*.so" -exec strip --strip-unneeded {} +
# Bytecode for exactly what a running server imports (found by starting the app on the model).
COPY params.yaml ./
COPY model/ model/
RUN PREDICTION_LOG_STDOUT=0 OMP_NUM_THREADS=1 /opt/venv/bin/python -m mlops.api.precompile

# --- runtime: the base, the virtualenv, the config and the model; runs as a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ARG GIT_COMMIT=unknown
ARG BUILD_TIME=unknown
ARG VERSION=0.0.0
ARG MODEL_VERSION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="mlops-template model API" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.created="${BUILD_TIME}" \
      org.opencontainers.image.version="${VERSION}" \
      io.github.mlops-template.model.version="${MODEL_VERSION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    GIT_COMMIT=${GIT_COMMIT} \
    BUILD_TIME=${BUILD_TIME} \
    PORT=8000 \
    WEB_CONCURRENCY=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# params.yaml names the model files and holds the serving knobs; model/ is the trained bundle
# (model, metadata, metrics, run record). The app refuses to start if its sha256 does not match.
COPY params.yaml ./
COPY model/ model/
USER 10001:10001
EXPOSE 8000
# Liveness without curl: the probe module is standard library only.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python3", "-m", "mlops.gitops.probe"]
CMD ["gunicorn", "-c", "python:mlops.gunicorn_conf"]
