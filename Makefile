# The two commands a fresh machine needs are `make demo` and `make test`; both create .venv first.
PY := .venv/bin/python

.PHONY: setup demo test bench lint
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m eco_unlearn.cli demo

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: setup
	@$(PY) -m pytest -q -ra; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

bench: setup
	$(PY) -m eco_unlearn.cli bench overhead

lint: setup
	$(PY) -m ruff check src tests
