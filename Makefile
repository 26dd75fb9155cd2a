# gtsa-mm: every target installs what it needs first (idempotent; 12-24 min the first time
# on 2 cores, most of it building mmcv: README "Install times").
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install test test-fast demo lint benchmark benchmark-gpu clean-venv

install:
	@bash tools/install.sh

test: install
	$(PY) -m pytest -q -ra $(PYTEST_ARGS) tests

test-fast: install
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests

demo: install
	$(PY) tools/demo.py $(DEMO_ARGS)

lint: install
	$(PY) -m ruff check gtsa_mm tools tests configs

benchmark: install
	$(PY) tools/benchmark.py --device cpu --batch-size 4 $(BENCH_ARGS)

benchmark-gpu: install
	PY=$(PY) bash tools/benchmark_gpu.sh

clean-venv:
	rm -rf .venv
