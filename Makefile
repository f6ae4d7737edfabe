# The one interface to this project: the README, CI (.ci/run, .github/workflows) and you call
# these targets. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
# DVC stages run `python -m mlops.<stage>`: put the project's environment first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Precompile bytecode at install: imports stay fast even where PYTHONDONTWRITEBYTECODE is set.
export UV_COMPILE_BYTECODE := 1
# DVC and MLflow: no telemetry, no update checks (a fresh clone works offline).
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@echo "==> bootstrapping uv $(UV_VERSION) into $(TOOLS)/"
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNCED): pyproject.toml uv.lock | $(UV)
	@echo "==> syncing $(VENV)/ with uv.lock"
	@$(UV) sync --locked --quiet
	@touch $@

.PHONY: setup
setup: $(SYNCED) ## Create or update the dev environment (.venv) from uv.lock

# RENDER_SCHEMA: a local copy of Render's Blueprint JSON schema, to check render.yaml against it.
RENDER_SCHEMA ?=
.PHONY: lint
lint: setup ## Lint: ruff (code + format), hadolint (Dockerfile), workflows, dependabot.yml, YAML, render.yaml
	ruff check .
	ruff format --check .
	hadolint Dockerfile
	yamllint .github/workflows .github/dependabot.yml params.yaml dvc.yaml render.yaml
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(if $(RENDER_SCHEMA),check-jsonschema --schemafile $(RENDER_SCHEMA) render.yaml,@echo "render.yaml: structure checked by tests/test_render_blueprint.py (set RENDER_SCHEMA=<schema.json> to validate it too)")

.PHONY: format
format: setup ## Fix lint and formatting in place (ruff)
	ruff check --fix .
	ruff format .

.PHONY: data
data: setup ## Get the raw data from the DVC remote (default: the demo remote inside the repo)
	dvc pull --quiet data.dvc

.PHONY: sample
sample: data ## Write the test suite's sample of the raw data (paths.sample); rerun after changing the data
	python -m mlops.sample

.PHONY: pipeline
pipeline: data ## Get the data and reproduce the pipeline (dvc repro), then print the metrics (model, baselines, slices)
	@mkdir -p .dvc/tmp && touch .dvc/tmp/repro-start
	dvc repro
	python -m mlops.run_record
	@# DVC ends a run that changed anything with "Use `dvc push`": not for the in-repo demo remote.
	@if [ dvc.lock -nt .dvc/tmp/repro-start ] && [ "$$(dvc remote default 2>/dev/null)" = demo ]; then \
	  echo "==> No need to \`dvc push\`: the outputs are in .dvc/cache and reproducible; the demo remote"; \
	  echo "    (.dvc/demo-remote/) holds only the raw data. Pushing is for your own remote (docs/data.md)."; fi
	@echo
	@python -m mlops.evaluate --show

# SET and APPLY reach the recipe through the environment (make exports command-line variables).
.PHONY: sweep
# The pipeline first: the sweep compares its experiments with this commit's own result.
sweep: pipeline ## DVC experiments for params.yaml's `sweep` grid (or SET="key=v1,v2 ..."), best first; APPLY=1 applies it
	python -m mlops.sweep --set "$${SET:-}" $$([ "$${APPLY:-0}" = 0 ] || echo --apply)

.PHONY: sweep-apply
sweep-apply: setup ## Apply the best experiment already run from this commit to the workspace (dvc exp apply)
	python -m mlops.sweep --no-run --apply

.PHONY: run
run: pipeline serve ## The main job: environment, data, pipeline, metrics, then serve the API

PORT ?= 8000
.PHONY: serve
serve: setup ## Serve the trained model on http://127.0.0.1:8000 (gunicorn, as in the container; PORT=...)
	@python -m mlops.port --port "$(PORT)" --hint "make $(firstword $(filter run serve,$(MAKECMDGOALS)) serve) PORT={port}"
	HOST=127.0.0.1 PORT=$(PORT) gunicorn -c python:mlops.gunicorn_conf

# CI's test job sets DOCKER_TESTS=0: its image job tests the exact image it pushes instead.
DOCKER_TESTS ?= 1
.PHONY: test
test: lint suite ## Lint, the whole test suite with coverage, then docker-test (skipped without a daemon)

.PHONY: suite
suite: setup ## The test suite with coverage, then docker-test: make test without the lint
	pytest -m "not docker"
	@if [ "$(DOCKER_TESTS)" != 0 ]; then $(MAKE) docker-test; fi

# --- CI: the same targets the workflows call -------------------------------------------
BASE ?= origin/main
export BASE
.PHONY: pipeline-check
pipeline-check: data ## Fail when dvc.lock does not match what the code, params and data reproduce
	python -m mlops.gitops.pipeline_check

.PHONY: ci-report
ci-report: pipeline ## Write ci-report/report.md (metrics, params, figures, gate) against BASE
	python -m mlops.gitops.report --base "$$BASE" --out ci-report

# Cheapest first: lint and the dvc.lock check take seconds, the suite minutes.
.PHONY: ci
ci: ## Rehearse CI locally: lint, pipeline check, the test suite, the PR report against main
	$(MAKE) lint
	$(MAKE) pipeline-check
	$(MAKE) suite
	$(MAKE) ci-report BASE=main
	@echo "==> the PR comment CI would post: ci-report/report.md"

# Standard library only: these two run on a bare runner, without `make setup`.
.PHONY: integrations
integrations: ## Which integrations (DVC remote, MLflow, Render, API key) are switched on
	@PYTHONPATH=src $(PYTHON) -m mlops.gitops.integrations

.PHONY: deploy
deploy: ## Deploy IMAGE (by digest) to Render and verify COMMIT is live; skips without RENDER_* secrets
	PYTHONPATH=src $(PYTHON) -m mlops.gitops.deploy --image "$${IMAGE:-}" --commit "$${COMMIT:-}"

# Standard library and the GitHub CLI only, like deploy: docs/deploy.md.
.PHONY: connect-render
connect-render: ## Link this repo to Render: render.yaml, registry access, GitHub secrets, a live check
	@PYTHONPATH=src $(PYTHON) -m mlops.gitops.connect_render

# Values from workflows (IMAGE, COMMIT, REQUESTED) reach recipes through the environment: the
# shell reads them and make never pastes them into a command line.
.PHONY: resolve-image
resolve-image: ## Rollback: REQUESTED (tag or commit) -> image by digest + its commit, for make deploy
	PYTHONPATH=src $(PYTHON) -m mlops.gitops.rollback --requested "$${REQUESTED:?set REQUESTED to an image tag or commit}"

# `latest` is the tag Render's dashboard (re)deploys, so it only ever moves to a verified image.
.PHONY: promote-image
promote-image: ## Tag IMAGE (name@sha256:<digest>) as name:latest in its registry, after a verified deploy
	@[[ "$${IMAGE:-}" =~ ^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$$ ]] \
	  || { echo "promote-image: IMAGE must be <name>@sha256:<64 hex>, got '$${IMAGE:-}'" >&2; exit 2; }
	docker buildx imagetools create --tag "$${IMAGE%@*}:latest" "$$IMAGE"

INPUT ?=
.PHONY: monitor
monitor: setup ## Drift report for INPUT (prediction log or CSV) vs training; exit 1 on drift
	@test -n "$(INPUT)" || { echo "usage: make monitor INPUT=<prediction log (.jsonl) or CSV>"; exit 2; }
	python -m mlops.monitor --input "$(INPUT)" --out monitoring-report

.PHONY: drift-check
drift-check: ## Live /monitoring/drift -> open, update or close the `drift` issue (scheduled workflow)
	PYTHONPATH=src $(PYTHON) -m mlops.gitops.drift_check

.PHONY: retrain
retrain: setup ## Refresh imported data (dvc update), reproduce; the Retrain workflow PRs what changed
	@if grep -qs '^deps:' data.dvc; then dvc update data.dvc; \
	else echo "==> data.dvc is tracked data, not a dvc import: nothing to refresh (docs/monitoring.md)"; fi
	$(MAKE) pipeline

# 5000 is MLflow's default; on macOS AirPlay may hold it: make mlflow-ui MLFLOW_PORT=5001
MLFLOW_PORT ?= 5000
.PHONY: mlflow-ui
mlflow-ui: setup ## Browse experiments in the local MLflow store on http://127.0.0.1:5000 (MLFLOW_PORT=...)
	@python -m mlops.port --port "$(MLFLOW_PORT)" --hint "make mlflow-ui MLFLOW_PORT={port}"
	mlflow ui --host 127.0.0.1 --port "$(MLFLOW_PORT)" --backend-store-uri sqlite:///mlflow.db

.PHONY: clean
clean: ## Remove environments, caches and pipeline outputs (not the data or MLflow runs)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .coverage htmlcov artifacts model reports

# --- container ---------------------------------------------------------------------------
IMAGE ?= mlops-template:local
# Leave empty for the Dockerfile's pinned default; e.g. localhost/python-base:bookworm here.
PYTHON_IMAGE ?=
DOCKER_NETWORK ?= host

.PHONY: docker-build-args
docker-build-args: ## Print the image's build arguments (KEY=VALUE), as CI passes them
	@echo "GIT_COMMIT=$$(PYTHONPATH=src $(PYTHON) -c 'from mlops.provenance import git_commit; print(git_commit())')"
	@echo "BUILD_TIME=$$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	@echo "VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
	@echo "MODEL_VERSION=$$(python3 -c 'import json; print(json.load(open("model/metadata.json"))["model"]["version"])' 2>/dev/null || echo unknown)"
	@echo "SOURCE=$$(git config --get remote.origin.url 2>/dev/null | sed -E 's#^git@github.com:#https://github.com/#; s#\.git$$##')"

.PHONY: docker-build
# The Dockerfile's pinned default base is a stage of its own (Dependabot reads FROM lines, not ARG
# defaults). With another PYTHON_IMAGE that stage is left out: a builder without BuildKit builds
# every stage, so it would pull the pinned image for nothing (or fail, offline).
docker-build: pipeline ## Build the serving image (IMAGE, default mlops-template:local) with the model baked in
	$(if $(PYTHON_IMAGE),sed '/ AS python-base$$/d' Dockerfile,cat Dockerfile) | docker build --network $(DOCKER_NETWORK) \
	  $$($(MAKE) -s docker-build-args | sed 's/^/--build-arg /') \
	  $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) \
	  --tag $(IMAGE) --file - .

.PHONY: docker-test
docker-test: ## Build the image and smoke-test a running container (skipped without a Docker daemon)
	@if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then \
	  $(MAKE) docker-build && $(MAKE) docker-smoke; \
	else \
	  echo "docker-test: no Docker daemon reachable (DOCKER_HOST=$${DOCKER_HOST:-unset}); skipped"; \
	fi

.PHONY: docker-smoke
docker-smoke: setup ## Smoke-test an existing IMAGE (CI runs it on the exact image it pushes)
	IMAGE=$(IMAGE) pytest -m docker tests/docker --no-cov -p no:cacheprovider

.PHONY: benchmark-serving
benchmark-serving: pipeline ## Benchmark the API vs mlflow models serve; writes docs/benchmarks.md
	python benchmarks/serving.py

.PHONY: benchmark-monitoring
benchmark-monitoring: pipeline ## What the drift window costs each model call; writes docs/benchmarks.md
	python benchmarks/monitoring.py

.PHONY: benchmark-report
benchmark-report: pipeline ## What the PR report's paired bootstrap and figures cost; writes docs/benchmarks.md
	python benchmarks/pr_report.py

.PHONY: benchmark-slow-clients
benchmark-slow-clients: pipeline ## Slow clients vs gunicorn's gthread and our worker, and the normal path's cost; writes docs/benchmarks.md
	python benchmarks/slow_clients.py

.PHONY: benchmark-reliability
benchmark-reliability: pipeline ## Hostile-client and operator probes against the served model; writes docs/reliability.md
	python benchmarks/reliability.py

.PHONY: benchmark-image
benchmark-image: docker-build ## Image size, start time and memory; writes docs/benchmarks.md
	IMAGE=$(IMAGE) PYTHON_IMAGE=$(PYTHON_IMAGE) python benchmarks/image.py

# BASELINE_IMAGE: an older image to measure side by side (alternating cold starts).
BASELINE_IMAGE ?=
.PHONY: benchmark-free-plan
benchmark-free-plan: docker-build ## The image at Render free-plan size (0.1 CPU, 512 MB): ready, predictions, memory; writes docs/benchmarks.md
	IMAGE=$(IMAGE) BASELINE_IMAGE=$(BASELINE_IMAGE) python benchmarks/free_plan.py
