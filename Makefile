# Two commands: `make demo` runs the example pipelines against the bundled local Mix server,
# `make test` runs lint, types, the docs build, the test suite and the browser end-to-end tests.
# Both install what they need. CONTRIBUTING.md describes every target.
# `make compat` checks the built wheel on every supported Airflow release and Python.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW_HOME := $(CURDIR)/.airflow

.PHONY: venv demo test lint typecheck docs-check docs e2e e2e-distributed compat bench soak clean

venv:
	@scripts/bootstrap.sh

demo: venv
	$(BIN)/python scripts/demo.py

lint: venv
	$(BIN)/ruff check provider tests dags_examples benchmarks scripts docs/conf.py
	$(BIN)/ruff format --check provider tests dags_examples benchmarks scripts docs/conf.py
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

test: lint typecheck docs-check docs
	$(BIN)/python -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e --ignore=tests/distributed
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory e2e-distributed

e2e: venv docs
	scripts/e2e_setup.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

# A distributed Airflow on this machine (PostgreSQL, Redis, api-server, two schedulers, dag-processor,
# two Celery workers, two triggerers), the example DAGs through it, then the failure drills: a
# triggerer and a Celery worker killed mid-turn, the worker restarted (its try redelivered), a scheduler
# killed, PostgreSQL, Redis and the Mix server restarted (docs/scale.md). The last step of `make test`.
e2e-distributed: venv
	scripts/distributed_setup.sh
	@start=$$(date +%s); \
	$(BIN)/python -m pytest -q -p no:cacheprovider -s tests/distributed; status=$$?; \
	echo "make e2e-distributed: $$(( $$(date +%s) - start )) s wall, load $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	exit $$status

# The provider's wheel in one venv per supported Airflow release x Python (scripts/compat/releases.toml):
# imports, connection form, `airflow providers ...`, example DAGs, a deferred turn; prints the matrix.
# `make compat COMPAT_ARGS="--only 3.0"` runs the matching targets only. Venvs are kept in .compat/.
compat: venv
	$(BIN)/python scripts/compat/run.py $(COMPAT_ARGS)

docs-check: venv
	$(BIN)/python scripts/sync_docs.py --check

# The documentation site (Sphinx: the Markdown of docs/ plus the API reference from the docstrings)
# into docs/_build/html; any warning fails the build.
docs: venv
	$(BIN)/python -m sphinx -b html -W --keep-going -q docs docs/_build/html

# The benchmark tables (benchmarks/README.md); `make bench BENCH_ARGS=--quick` for a smoke run.
bench: venv
	@start=$$(date +%s); \
	for script in per_call archive_throughput archive_scale memory reply_latency triggerer_scale files; do \
		begun=$$(date +%s); \
		$(BIN)/python benchmarks/$$script.py $(BENCH_ARGS) || exit 1; \
		echo "$$script.py: $$(( $$(date +%s) - begun )) s"; \
	done; \
	echo "make bench: $$(( $$(date +%s) - start )) s wall, load $$(cut -d' ' -f1-3 /proc/loadavg)"

# An hour of turns, supervised turns, archives and injected faults through the distributed Airflow of
# e2e-distributed, a row of RSS, connections, triggers and DB rows every 2 min (benchmarks/README.md,
# "Soak"); not part of `make test`. `make soak SOAK_ARGS="--minutes 10"` for a shorter run.
soak: venv
	scripts/distributed_setup.sh
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .bootstrap .airflow .devserver-data .artifacts .compat dist docs/_build
