# planner: one command sets up and runs the demo (`make demo`), one runs the tests (`make test`).
# Needs Python >= 3.12: the first of python3.13, python3.12, ~/.pyenv/versions/3.1[23].*, python3
# that is new enough builds the virtual environment in .venv.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

PYTHON ?= $(shell for p in python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.13.*/bin/python3 $$HOME/.pyenv/versions/3.12.*/bin/python3 2>/dev/null | sort -rV) python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { command -v $$p; break; }; done)

.PHONY: install demo test fuzz validate fit fit-engines bench bench-scale bench-sweep bench-sim schema golden clean check-deploy

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found (tried python3.13, python3.12, ~/.pyenv/versions/3.1[23].*, python3)"; exit 2; }
	@echo "using $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/planner solve fleets/h100-a100.yaml workloads/chat-llama70b.yaml --json plan.json
	@echo "plan written to plan.json"

test: $(STAMP)
	$(PY) -m pytest

fuzz: $(STAMP)
	PLANNER_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q tests/test_fuzz_inputs.py tests/test_fuzz_files.py tests/test_fuzz_scenarios.py

validate: $(STAMP)
	$(VENV)/bin/planner validate

fit: $(STAMP)
	$(PY) -m planner.perf.validate --write

fit-engines: $(STAMP)
	$(PY) -m planner.perf.serving_fit --write

bench: $(STAMP)
	$(PY) benchmarks/solve_examples.py

bench-scale: $(STAMP)
	$(PY) benchmarks/scale.py

bench-sweep: $(STAMP)
	$(PY) benchmarks/sweep.py

bench-sim: $(STAMP)
	$(PY) benchmarks/simulate_100k.py
	$(PY) benchmarks/simulate_examples.py

schema: $(STAMP)
	$(PY) -c "from planner.report.export import generated_schema, schema_path; schema_path().write_text(generated_schema())"

# optional: the generated launch arguments through vLLM's and SGLang's own parsers, where those are
# pip-installed in .venv (each one missing is reported as skipped); not part of `make test`
check-deploy: $(STAMP)
	$(VENV)/bin/planner solve fleets/h100-a100.yaml workloads/chat-llama70b.yaml --json .venv/check-deploy-plan.json --quiet --no-explain
	$(PY) -m planner.deploy.check .venv/check-deploy-plan.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache plan.json

golden: $(STAMP)
	$(PY) tests/golden_cases.py
