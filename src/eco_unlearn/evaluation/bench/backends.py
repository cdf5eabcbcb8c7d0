"""`eco bench backends`: one recipe across model families, through both serving backends.

For each model, one real vLLM (float32, as the ``hf`` backend computes) is started and four arms answer
the same chat requests greedily (text completions for a base model without a chat template): vLLM called
directly, the gateway in front of it (``vllm`` backend, embeddings or ``--corrupt-in-vllm``) and the
gateway on the model in process (``hf`` backend). The target is a classifier gate trained on chemistry vs
geography questions with a deterministic corruption (sign flip of every dim), so the backends see the
same embeddings. The claims checked per model:

- a flagged prompt gets the same tokens through the ``vllm`` backend as through the ``hf`` backend, and
  not what vLLM answers directly (the corruption fired);
- a clean prompt gets through the ``vllm`` gateway exactly what vLLM answers directly (it travels as text);
- with ``--corrupt-in-vllm`` (a fourth arm: the flagged prompt travels as shifted token ids and vLLM's
  eco-unlearn plugin corrupts it) both claims hold too.

The prompts are held-out chemistry questions (in scope) and held-out geography and general questions (out
of scope); what the gate decides is recorded next to each, so a gate error shows as such, not as a backend
disagreement.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from eco_unlearn.console import status, track
from eco_unlearn.fileio import atomic_write_json

CORRUPTION = {"name": "flip_sign_first_n", "dims": None}


def prompts(n: int) -> dict[str, list[str]]:
    """``n`` held-out prompts of each kind: chemistry (in scope), geography and general (out of scope)."""
    from eco_unlearn.evaluation.domains import domain_prompts
    from eco_unlearn.gate.create import general_prompts

    return {
        "chemistry": domain_prompts("chemistry", seed=0)[1][:n],
        "geography": domain_prompts("geography", seed=0)[1][:n],
        "general": general_prompts()[-n:],
    }


def _ask(http: httpx.Client, url: str, model: str, prompt: str, max_tokens: int, chat: bool) -> str:
    """A greedy chat completion, or for a base model without a chat template (Gemma-3-270M) a text
    completion of the prompt as it is."""
    body = {"model": model, "max_tokens": max_tokens, "temperature": 0}
    if chat:
        r = http.post(url + "/v1/chat/completions", json=body | {"messages": [{"role": "user", "content": prompt}]})
        r.raise_for_status()
        return r.json()["choices"][0]["message"]["content"]
    r = http.post(url + "/v1/completions", json=body | {"prompt": prompt})
    r.raise_for_status()
    return r.json()["choices"][0]["text"]


def compare(local, encoder, target, asked: dict[str, list[str]], vllm_url: str, served: str, max_tokens: int) -> dict:
    """The three arms against a running vLLM that serves ``served`` (the model ``local`` holds)."""
    from eco_unlearn.server import TargetRegistry
    from eco_unlearn.server.app import ServerConfig, create_app
    from eco_unlearn.server.hf import HFBackend
    from eco_unlearn.server.runner import serve_in_thread
    from eco_unlearn.server.vllm import VLLMBackend

    flat = [(kind, p) for kind, ps in asked.items() for p in ps]
    flagged = [bool(d.flagged) for d in local.decide([[p] for _, p in flat], [target])]

    def app(backend):
        registry = TargetRegistry(None)
        registry.add_target(target)
        return create_app(backend, registry, ServerConfig(model_name="m"))

    in_vllm = VLLMBackend(encoder, vllm_url, model=served, corrupt_in_vllm=True)
    with serve_in_thread(app(VLLMBackend(encoder, vllm_url, model=served))) as gv, \
            serve_in_thread(app(in_vllm)) as gi, serve_in_thread(app(HFBackend(local))) as gh, \
            httpx.Client(timeout=600) as http:  # fmt: skip
        rows, chat = [], encoder.has_chat_template
        for (kind, p), f in zip(track(flat, f"{Path(served).name}: prompts × 4 arms"), flagged):
            direct = _ask(http, vllm_url, served, p, max_tokens, chat)
            rows.append({"kind": kind, "prompt": p, "flagged": f, "direct": direct,
                         "gateway_vllm": _ask(http, gv, "m", p, max_tokens, chat),
                         "gateway_in_vllm": _ask(http, gi, "m", p, max_tokens, chat),
                         "gateway_hf": _ask(http, gh, "m", p, max_tokens, chat)})  # fmt: skip
    fl = [r for r in rows if r["flagged"]]
    cl = [r for r in rows if not r["flagged"]]
    return {
        "api": "chat" if chat else "completions",
        "flag_rate": {k: sum(r["flagged"] for r in rows if r["kind"] == k) / len(v) for k, v in asked.items()},
        "flagged": len(fl),
        "flagged_vllm_equals_hf": sum(r["gateway_vllm"] == r["gateway_hf"] for r in fl),
        "flagged_differs_from_direct": sum(r["gateway_vllm"] != r["direct"] for r in fl),
        "flagged_in_vllm_equals_hf": sum(r["gateway_in_vllm"] == r["gateway_hf"] for r in fl),
        "clean": len(cl),
        "clean_vllm_equals_direct": sum(r["gateway_vllm"] == r["direct"] for r in cl),
        "clean_in_vllm_equals_direct": sum(r["gateway_in_vllm"] == r["direct"] for r in cl),
        "clean_hf_equals_direct": sum(r["gateway_hf"] == r["direct"] for r in cl),
        "rows": rows,
    }


def check_model(model: str, target, asked: dict[str, list[str]], workdir: Path, max_tokens: int) -> dict:
    """One model: its own float32 vLLM, then :func:`compare`."""
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.encoder import PromptEncoder
    from eco_unlearn.core.models import resolve_model
    from eco_unlearn.server.vllm_process import VLLMServer

    model_dir = Path(resolve_model(model))
    local = ECOModel.from_pretrained(model, dtype="float32")
    encoder = PromptEncoder.from_pretrained(str(model_dir))
    with (
        status(f"starting vLLM on {model} (float32)"),
        VLLMServer(model_dir, workdir / Path(model).name, dtype="float32", max_model_len=1024) as vllm_url,
    ):
        checked = compare(local, encoder, target, asked, vllm_url, str(model_dir), max_tokens)
    return {"model": model, "params": sum(p.numel() for p in local.model.parameters()),
            "architecture": local.model.config.architectures[0], **checked}  # fmt: skip


def run(models: tuple[str, ...], out_dir: Path, *, n: int = 4, max_tokens: int = 16) -> dict:
    """Every model in turn (one vLLM at a time); writes ``results.json`` under ``out_dir``."""
    from eco_unlearn.evaluation.domains import domain_prompts
    from eco_unlearn.gate.create import create_target

    if not models:
        raise ValueError("give at least one model")
    out_dir = Path(out_dir)
    forget, _ = domain_prompts("chemistry", per_item=4, seed=0)
    retain, _ = domain_prompts("geography", per_item=2, seed=0)
    with status("training the chemistry gate"):
        target, _ = create_target("chemistry", forget, retain, out_dir / "target", alpha=0.05, corruption=CORRUPTION,
                                  selection={"mode": "all_but_last"}, overwrite=True)  # fmt: skip
    asked = prompts(n)
    result = {
        "benchmark": "backends",
        "command": f"eco bench backends --models {','.join(models)} --n {n} --max-tokens {max_tokens}",
        "corruption": CORRUPTION,
        "models": [],
    }
    for m in models:
        try:
            result["models"].append(check_model(m, target, asked, out_dir / "vllm", max_tokens))
        except (ValueError, RuntimeError, httpx.HTTPError) as e:  # a family a backend refuses: a finding
            result["models"].append({"model": m, "error": str(e)})
    atomic_write_json(out_dir / "results.json", result)
    return result


__all__ = ["check_model", "compare", "prompts", "run"]
