"""`eco bench transport`: what a flagged request costs to ship to vLLM, and its share of end-to-end latency.

A flagged prompt travels to vLLM as its (tokens × hidden) embedding tensor (``server/vllm.py``). Two parts:

1. **Payload** (no server): for hidden sizes 576 (SmolLM2), 2048 and 4096 and prompts of 128, 512 and
   2048 tokens, the request body's bytes, the milliseconds to build it here (checks, cast, ``torch.save``,
   base64, JSON) and to read it in vLLM (JSON, then vLLM's own ``safe_load_prompt_embeds``, run in the vLLM
   environment), with the embeddings sent as float32 and as bfloat16 (the server's dtype); and the
   milliseconds to compute the corruption itself on every token (random noise, sign flip, top-k zeroing).
2. **End to end** (a real vLLM serving in bfloat16): one client, the same prompts sent directly to vLLM
   (as text) and through the gateway with float32 and with bfloat16 embeddings, interleaved request by
   request, at 0 / 50 / 100 % flagged traffic and the three lengths, on SmolLM2 and on a random-weight
   one-layer Llama of hidden 4096 (a 7B-wide embedding: what transport sees at that width). vLLM's prefix
   cache is off, so every request pays its prefill as distinct prompts do (each arm repeats the same
   prompts, and a cache hit would skip the prefill of all but the first). The hidden-4096 cell is measured
   again with the cache on: there a repeated prompt skips its prefill in both arms, so the gateway's fixed
   cost per flagged request (corrupting and shipping tens of MB) stands against almost no model work: the
   worst case for its share. Reported: the
   median latency per arm, the gateway/direct throughput ratio (at one client, the latency ratio), whether
   bfloat16 transport gave the flagged requests the same tokens as float32 (vLLM casts float32 to bfloat16
   itself), whether the clean requests got vLLM's direct answer, and transport's share of the flagged
   requests' latency.

Everything here runs on CPU: the model forward is far slower than on a GPU, so the end-to-end shares are
this machine's; the payload milliseconds are what a GPU deployment pays on its CPU side.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import torch

from eco_unlearn.console import status, track
from eco_unlearn.evaluation.finetune import save_checkpoint
from eco_unlearn.fileio import atomic_write_json

HIDDEN = (576, 2048, 4096)
LENGTHS = (128, 512, 2048)
FRACTIONS = (0.0, 0.5, 1.0)
SEND_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
IN_VLLM = "gateway-in-vllm"
"""The arm whose flagged prompts travel as shifted token ids and are corrupted by vLLM's plugin."""
WIDE = {"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 8}

_DECODE = r"""
import json, sys, time, types
import torch
from vllm.renderers.embed_utils import safe_load_prompt_embeds

out = []
for item in json.load(open(sys.argv[1])):
    raw = open(item["path"], "rb").read()
    cfg = types.SimpleNamespace(enable_prompt_embeds=True, get_hidden_size=lambda h=item["hidden"]: h,
                                dtype=torch.bfloat16)
    times = []
    for _ in range(item["repeats"]):
        t0 = time.perf_counter()
        body = json.loads(raw)
        t = safe_load_prompt_embeds(cfg, body["prompt_embeds"])
        times.append(time.perf_counter() - t0)
        assert t.shape == (item["tokens"], item["hidden"]) and t.dtype == torch.bfloat16
    out.append(min(times) * 1000)
print(json.dumps(out))
"""


def _body(t: torch.Tensor, dtype: torch.dtype) -> bytes:
    """The request body exactly as the gateway builds it (``VLLMBackend.request_bytes``)."""
    from eco_unlearn.server.vllm import encode_embeds, json_body

    return json_body({"model": "m", "max_tokens": 16, "temperature": 0.0,
                      "prompt_embeds": encode_embeds(t, dtype=dtype)})  # fmt: skip


@contextmanager
def _one_thread():
    """Torch on one thread for the block, as the gateway runs in front of vLLM (server/runner.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _build(hidden, lengths, repeats: int, tmp: Path) -> tuple[list[dict], list[dict]]:
    """Build every body (best of ``repeats``), keep it in ``tmp`` for vLLM's loader: (rows, loader spec)."""
    rows, spec = [], []
    for h in hidden:
        for n in lengths:
            t = torch.randn(n, h) * 0.02  # the scale of real embedding rows
            for name, dtype in SEND_DTYPES.items():
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    body = _body(t, dtype)
                    times.append(time.perf_counter() - t0)
                path = tmp / f"{h}-{n}-{name}.json"
                path.write_bytes(body)
                spec.append({"path": str(path), "hidden": h, "tokens": n, "repeats": repeats})
                rows.append({"hidden": h, "tokens": n, "sent_as": name, "bytes": len(body),
                             "build_ms": min(times) * 1000})  # fmt: skip
            rows.append(_ids_row(h, n, repeats))
    return rows, spec


def _ids_row(hidden: int, n: int, repeats: int) -> dict:
    """The same flagged prompt sent as shifted token ids (``--corrupt-in-vllm``): every token but the last
    selected, SmolLM2's vocabulary, a whole-vector sign flip. vLLM reads them as any token prompt."""
    from eco_unlearn.server.vllm import json_body
    from eco_unlearn.server.vllm_plugin import shift_ids, slot_for

    vocab = 49152
    ids, mask = [(7919 * i) % vocab for i in range(n)], [True] * (n - 1) + [False]
    slot = slot_for("flip_sign_first_n", None, vocab, hidden)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        body = json_body(
            {"model": "m", "max_tokens": 16, "temperature": 0.0, "prompt": shift_ids(ids, mask, slot, vocab)}
        )
        times.append(time.perf_counter() - t0)
    return {"hidden": hidden, "tokens": n, "sent_as": "ids", "bytes": len(body), "build_ms": min(times) * 1000}


def payload_costs(hidden=HIDDEN, lengths=LENGTHS, repeats: int = 3) -> list[dict]:
    """Bytes and build / read milliseconds (best of ``repeats``) of a flagged request body per size."""
    from eco_unlearn.server.vllm_process import vllm_python

    with tempfile.TemporaryDirectory() as tmp:
        with _one_thread():
            rows, spec = _build(hidden, lengths, repeats, Path(tmp))
        python = vllm_python()
        if python is not None:
            (Path(tmp) / "spec.json").write_text(json.dumps(spec))
            with status("reading the payloads with vLLM's own loader"):
                done = subprocess.run([str(python), "-c", _DECODE, str(Path(tmp) / "spec.json")], capture_output=True,
                                      text=True, check=True)  # fmt: skip
            embeds_rows = [r for r in rows if r["sent_as"] != "ids"]  # ids are a token prompt: no loader
            for row, ms in zip(embeds_rows, json.loads(done.stdout.strip().splitlines()[-1])):
                row["read_ms"] = ms
    return rows


CORRUPTIONS = {"rand_noise_first_n": (1.0, None), "flip_sign_first_n": (0.0, None), "zero_out_top_k": (0.0, 64)}
"""What the gateway computes per flagged prompt before it ships it: (σ, dims) of each corruption timed."""


def corruption_costs(hidden=HIDDEN, lengths=LENGTHS, repeats: int = 3) -> list[dict]:
    """Milliseconds (best of ``repeats``, one thread as in the gateway) to corrupt every token of a prompt:
    the float32 computation ``PromptEncoder`` runs on a flagged prompt's embeddings."""
    from eco_unlearn.core.corruptions import apply_corruption

    rows = []
    with _one_thread():
        for h in hidden:
            for n in lengths:
                e, mask = torch.randn(1, n, h) * 0.02, torch.ones(1, n, dtype=torch.bool)
                for name, (strength, dims) in CORRUPTIONS.items():
                    times = []
                    for r in range(repeats):
                        t0 = time.perf_counter()
                        apply_corruption(name, e, mask, strength, dims, torch.Generator().manual_seed(r))
                        times.append(time.perf_counter() - t0)
                    rows.append({"hidden": h, "tokens": n, "corruption": name, "ms": min(times) * 1000})
    return rows


def wide_model(cache: Path, tokenizer) -> Path:
    """A random-weight one-layer Llama of hidden 4096 (a 7B model's width) with SmolLM2's tokenizer, bf16."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    out = cache / "wide-llama-4096"
    if not (out / "init.json").exists():  # the record is written last: it marks a complete checkpoint
        cfg = LlamaConfig(vocab_size=len(tokenizer), num_hidden_layers=1, head_dim=128, tie_word_embeddings=True,
                          max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, **WIDE)  # fmt: skip
        torch.manual_seed(0)
        with status("building the hidden-4096 model"):
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
            save_checkpoint(model, tokenizer, out, "init.json", {"init": "random", "seed": 0, **WIDE})
    return out


def prompts_of(tokenizer, n_tokens: int) -> tuple[str, str]:
    """(flagged, clean) completion prompts of about ``n_tokens`` tokens: the same filler text after an opening
    that names the target (a zebra) or not (a horse)."""
    from eco_unlearn.gate.create import general_prompts

    filler = " ".join(general_prompts())
    out = []
    for opening in ("Tell me about the zebra and its stripes. ", "Tell me about the horse and its mane. "):
        ids = tokenizer(opening + filler, add_special_tokens=False).input_ids
        while len(ids) < n_tokens:
            ids = ids + ids
        out.append(tokenizer.decode(ids[:n_tokens]))
    return out[0], out[1]


def _complete(http: httpx.Client, url: str, model: str, prompt: str, max_tokens: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    r = http.post(url + "/v1/completions", json=body)
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:500]}")
    return seconds, r.json()["choices"][0]["text"]


def end_to_end(
    model_dir: Path, workdir: Path, *, lengths, fractions, requests: int, max_tokens: int, prefix_cache: bool = False
) -> list[dict]:
    """Direct vs gateway (float32 and bfloat16 embeddings) on a bfloat16 vLLM, interleaved per request.
    ``prefix_cache``: vLLM's prefix cache on (a repeated prompt skips its prefill) or off."""
    from eco_unlearn.core.encoder import PromptEncoder
    from eco_unlearn.gate.targets import Target
    from eco_unlearn.server import TargetRegistry
    from eco_unlearn.server.app import ServerConfig, create_app
    from eco_unlearn.server.runner import serve_in_thread
    from eco_unlearn.server.vllm import VLLMBackend
    from eco_unlearn.server.vllm_process import VLLMServer

    encoder = PromptEncoder.from_pretrained(str(model_dir))
    zebra = Target.create("zebra", gate={"kind": "keyword", "keywords": ["zebra"]},
                          corruption={"name": "flip_sign_first_n", "dims": None},
                          selection={"mode": "all_but_last"})  # fmt: skip
    cells = []
    max_len = max(lengths) + max_tokens + 64
    cache_flag = ("--enable-prefix-caching",) if prefix_cache else ("--no-enable-prefix-caching",)
    with (
        status(f"starting vLLM on {model_dir.name} (bfloat16, prefix cache {'on' if prefix_cache else 'off'})"),
        VLLMServer(model_dir, workdir, dtype="bfloat16", max_model_len=max_len, extra_args=cache_flag) as vllm_url,
    ):
        backends = {f"gateway-{name}": VLLMBackend(encoder, vllm_url, model=str(model_dir), embeds_dtype=dtype)
                    for name, dtype in SEND_DTYPES.items()}  # fmt: skip
        backends[IN_VLLM] = VLLMBackend(encoder, vllm_url, model=str(model_dir), corrupt_in_vllm=True)
        with ExitStack() as gateways, httpx.Client(timeout=900) as http:
            arms = {"direct": (vllm_url, str(model_dir))}
            for arm, backend in backends.items():
                registry = TargetRegistry(None)
                registry.add_target(zebra)
                app = create_app(backend, registry, ServerConfig(model_name="m"))
                arms[arm] = (gateways.enter_context(serve_in_thread(app)), "m")
            flagged_p, clean_p = prompts_of(encoder.tokenizer, min(lengths))
            for url, model in arms.values():  # warm-up every path once
                _complete(http, url, model, flagged_p, 2)
            steps = [(n, f) for n in lengths for f in fractions]
            for n, f in track(steps, f"{model_dir.name}: lengths × flagged shares"):
                flagged_p, clean_p = prompts_of(encoder.tokenizer, n)
                lat: dict[str, list[float]] = {a: [] for a in arms}
                texts: dict[str, list[str]] = {a: [] for a in arms}
                n_flagged = round(f * requests)
                for r in range(requests):
                    prompt = flagged_p if r < n_flagged else clean_p
                    order = list(arms)[r % len(arms) :] + list(arms)[: r % len(arms)]  # rotate the arms
                    for arm in order:
                        s, text = _complete(http, *arms[arm], prompt, max_tokens)
                        lat[arm].append(s)
                        texts[arm].append(text)
                median = {a: statistics.median(v) * 1000 for a, v in lat.items()}
                cells.append({
                    "model": model_dir.name, "hidden": encoder.hidden_size, "tokens": n, "flagged": f,
                    "prefix_cache": prefix_cache,
                    "requests": requests, "median_ms": median,
                    "throughput_vs_direct": {a: median["direct"] / median[a] for a in arms if a != "direct"},
                    # transport's claim, on the flagged requests; vLLM's own repeatability, on the clean ones
                    # (the gateway forwards those as text: any difference is vLLM's, e.g. batch or cache state)
                    "bf16_same_tokens_as_f32": texts["gateway-bfloat16"][:n_flagged]
                    == texts["gateway-float32"][:n_flagged],
                    "in_vllm_same_tokens_as_bf16": texts[IN_VLLM][:n_flagged] == texts["gateway-bfloat16"][:n_flagged],
                    "clean_same_tokens_as_direct": texts["gateway-float32"][n_flagged:] == texts["direct"][n_flagged:],
                    "flagged_differs_from_direct": n_flagged == 0 or texts["gateway-float32"][0] != texts["direct"][0],
                })  # fmt: skip
    return cells


def run(
    out_dir: Path = Path("runs/bench/transport"),
    *,
    quick: bool = False,
    e2e: bool = True,
    wide: bool = True,
    requests: int = 8,
    max_tokens: int = 16,
    models: tuple[str, ...] = ("smollm2",),
) -> dict:
    """``models``: the real checkpoints measured end to end (SmolLM2's tokenizer builds the wide model)."""
    from eco_unlearn.core.models import cache_dir, load_tokenizer, resolve_model
    from eco_unlearn.server.vllm_process import vllm_python

    t0 = time.perf_counter()
    hidden, lengths = ((576, 2048), (128,)) if quick else (HIDDEN, LENGTHS)
    result: dict = {
        "benchmark": "transport",
        "command": "eco bench transport" + (" --quick" if quick else "") + ("" if e2e else " --no-e2e")
        + ("" if wide else " --no-wide") + f" --requests {requests} --models {','.join(models)}",
        "payload": payload_costs(hidden, lengths, repeats=2 if quick else 3),
        "corruption": corruption_costs(hidden, lengths, repeats=2 if quick else 3),
        "end_to_end": [],
    }  # fmt: skip
    if e2e and vllm_python() is not None:
        dirs = [Path(resolve_model(m)) for m in models]
        if wide and not quick:
            dirs.append(wide_model(cache_dir(), load_tokenizer("smollm2")))
        for m in dirs:
            is_wide = m.name.startswith("wide")
            for cache in (False, True) if is_wide else (False,):
                result["end_to_end"] += end_to_end(
                    m, out_dir / "vllm" / m.name, lengths=(max(lengths),) if is_wide else lengths,
                    fractions=(1.0,) if is_wide else FRACTIONS, requests=2 if quick else requests,
                    max_tokens=max_tokens, prefix_cache=cache,
                )  # fmt: skip
        result["transport_share"] = transport_share(result["payload"], result["end_to_end"])
    result["seconds"] = time.perf_counter() - t0
    atomic_write_json(out_dir / "results.json", result)
    return result


def transport_share(payload: list[dict], cells: list[dict]) -> list[dict]:
    """(build + read ms) / the gateway's median latency, for the all-flagged cells."""
    cost = {(p["hidden"], p["tokens"], p["sent_as"]): p["build_ms"] + p.get("read_ms", 0.0) for p in payload}
    out = []
    for c in cells:
        if c["flagged"] != 1.0:
            continue
        for name in SEND_DTYPES:
            key = (c["hidden"], c["tokens"], name)
            if key in cost:
                ms = c["median_ms"][f"gateway-{name}"]
                out.append({"hidden": c["hidden"], "tokens": c["tokens"], "prefix_cache": c["prefix_cache"],
                            "sent_as": name, "transport_ms": cost[key], "end_to_end_ms": ms,
                            "share": cost[key] / ms})  # fmt: skip
    return out
