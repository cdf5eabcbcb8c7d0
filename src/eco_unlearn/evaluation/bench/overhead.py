"""`eco bench overhead`: latency of ECOModel.generate against raw model.generate.

Both paths get the same prompts, the same batch and exactly ``new_tokens`` new tokens (EOS is suppressed
with ``min_new_tokens``, so a corrupted prompt that would stop early cannot look faster). The arms run
interleaved, in an order that rotates every repeat, so that machine noise hits every arm alike, and the
figures are ratios of medians from the same run. Classifier cost is excluded (an always-on gate).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import torch

from eco_unlearn.console import track
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.targets import Target

PROMPTS = [
    "What is the capital of France?",
    "Who wrote Pride and Prejudice?",
    "Explain photosynthesis in one sentence.",
    "What is the chemical symbol of gold?",
    "Name three primary colours.",
    "How many legs does a spider have?",
    "What language is spoken in Brazil?",
    "Give me a synonym for happy.",
]


def _raw_generate(model, tok, prompts: list[str], new_tokens: int) -> None:
    texts = [
        tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    tok.padding_side = "left"
    enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    model.generate(
        **enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
    )


def run(
    model_name: str = "smollm2", batch: int = 4, new_tokens: int = 64, repeats: int = 5, out: Path | None = None
) -> dict:
    torch.manual_seed(0)
    plain = ECOModel.from_pretrained(model_name)
    flag = Target.create(
        "bench",
        corruption={"name": "rand_noise_first_n", "strength": 0.4, "dims": None},
        selection={"mode": "user_span"},
    )
    flagged = ECOModel(plain.model, plain.tokenizer, [flag])
    prompts = (PROMPTS * ((batch + len(PROMPTS) - 1) // len(PROMPTS)))[:batch]
    kw = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "batch_size": batch}
    arms = {
        "raw": lambda: _raw_generate(plain.model, plain.tokenizer, prompts, new_tokens),
        "eco_unflagged": lambda: plain.generate(prompts, **kw),
        "eco_flagged": lambda: flagged.generate(prompts, **kw),
    }
    for fn in arms.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in arms}
    names = list(arms)
    for r in track(range(repeats), "overhead bench"):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no arm always goes first
            t0 = time.perf_counter()
            arms[name]()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "command": f"eco bench overhead --model {model_name} --batch {batch} --new-tokens {new_tokens} "
        f"--repeats {repeats}",
        "machine": {"torch_threads": torch.get_num_threads(), "platform": platform.platform()},
        "seconds": times,
        "median_seconds": med,
        "overhead_unflagged": med["eco_unflagged"] / med["raw"] - 1.0,
        "overhead_flagged": med["eco_flagged"] / med["raw"] - 1.0,
        "goal": {"unflagged": 0.03, "flagged": 0.05},
    }
    if out:
        atomic_write_json(out, result)
    return result
