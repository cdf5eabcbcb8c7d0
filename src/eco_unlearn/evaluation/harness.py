"""ECO as a model of EleutherAI's lm-evaluation-harness: any lm-eval task, scored through forget targets.

Registered as ``eco`` (``lm_eval --model eco --model_args pretrained=smollm2,targets=DIR``, or
``eco eval``). It tokenises exactly as lm-eval tokenises for every causal LM (``TemplateLM``: the context
and continuation split from one encoding, left-truncated to ``max_length``), and scores the ids with
:meth:`ECOModel.prompt_logprobs`, the code behind the gateway's ``echo``/``logprobs``.

What the gates read is the one choice to make (``gate``):

- ``context`` (default): the context alone, as ``eco bench`` scores a question; every option of a
  multiple-choice item is then scored under the same decision, and the continuation is corrupted only if
  the target's selection says so (``corrupt_answer``);
- ``prompt``: context and continuation as one prompt, which is all a served model sees: lm-eval's
  ``local-completions`` against ``eco serve`` gives these numbers (the gateway cannot know where the
  context ends).

``generate_until`` generates from the context with the context gated, as the gateway does.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

# lm-eval's own models are registered first: lm-eval fills its model registry lazily only while it is
# empty, so once it holds "eco" its own models ("hf", "local-completions"...) would be missing
import lm_eval.models  # noqa: F401
from lm_eval import utils as lm_utils
from lm_eval.api.instance import Instance
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model

from eco_unlearn.console import track
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import DEFAULT_MODEL
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.targets import load_targets

GATES = ("context", "prompt")


@register_model("eco")
class ECOHarnessLM(TemplateLM):
    """``pretrained``: embedded name or model path; ``targets``: bundle directories joined by ``|`` (or a
    list; a directory of bundles loads all of them); ``gate``: see the module docstring; ``device`` and
    ``dtype``: where and how the model loads; ``add_bos_token``: as lm-eval's ``hf`` model."""

    def __init__(
        self,
        pretrained: str = DEFAULT_MODEL,
        targets: str | Sequence[str | Path] = (),
        gate: str = "context",
        batch_size: int | str = 8,
        max_length: int = 2048,
        seed: int = 0,
        device: str | None = None,
        dtype: str | None = None,
        add_bos_token: bool = False,
        eco: ECOModel | None = None,
        **_ignored,
    ):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
        paths = [p for p in targets.split("|") if p] if isinstance(targets, str) else list(targets)
        loaded = load_targets(paths) if paths else []
        if eco is None:
            eco = ECOModel.from_pretrained(pretrained, loaded, device=device, dtype=dtype, seed=seed)
        elif loaded:
            eco = ECOModel(eco.model, eco.tokenizer, loaded, seed=seed)
        self.eco, self.gate = eco, gate
        self.tokenizer = eco.tokenizer
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 8  # "auto" is not needed here
        self.max_length = int(max_length)
        self.add_bos_token = str(add_bos_token).lower() in ("true", "1")
        """As lm-eval's own models: no special tokens unless asked (Gemma wants its BOS: add_bos_token=True)."""
        self.flagged = {"scored": 0, "flagged": 0}
        """How many scored sequences the targets flagged (reported next to lm-eval's results)."""

    # --- what TemplateLM needs ---------------------------------------------------------------------------

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def device(self):
        return self.eco.device

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.tokenizer(string, add_special_tokens=bool(add_special_tokens) or self.add_bos_token).input_ids

    def tok_decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens)

    # --- scoring -----------------------------------------------------------------------------------------

    def score_tokens(
        self, pairs: list[tuple[list[int], list[int]]], desc: str, truncate: bool = True
    ) -> list[tuple[float, bool]]:
        """(log-likelihood, is greedy) of each continuation given its context, both token ids; ``truncate``:
        keep the last ``max_length`` ids (lm-eval's rolling windows are already cut to size)."""
        out: list[tuple[float, bool]] = []
        for i in track(
            range(0, len(pairs), self.batch_size), desc, total=(len(pairs) + self.batch_size - 1) // self.batch_size
        ):
            chunk = pairs[i : i + self.batch_size]
            segs = []
            for context, continuation in chunk:
                ids = (context + continuation)[-self.max_length :] if truncate else context + continuation
                ctxlen = len(ids) - len(continuation)  # the context as truncated (as lm-eval's API models do)
                segs.append(self.eco.encode_ids(ids, prompt_len=ctxlen if self.gate == "context" else None))
            plans = self.eco.plan(segs)
            self.flagged["scored"] += len(plans)
            self.flagged["flagged"] += sum(bool(p.decision.flagged) for p in plans)
            for (_, continuation), result in zip(chunk, self.eco.prompt_logprobs(plans, top=1)):
                n = len(continuation)
                own, best = result.logprobs[-n:], result.top[-n:]
                # greedy as lm-eval's API models decide it: each token's log-prob is the best one
                out.append((float(sum(own)), all(lp >= b[0][1] for lp, b in zip(own, best))))
        return out

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        results = self.score_tokens([(ctx, cont) for _, ctx, cont in requests], "lm-eval log-likelihoods")
        for (key, _, _), result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", key, result)
        return results

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """Each text in windows of ``max_length`` tokens (lm-eval's rolling windows), every token scored once."""
        out = []
        for request in requests:
            (text,) = request.args
            windows = [
                lm_utils.make_disjoint_window(w)
                for w in lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(text),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                )
            ]
            total = sum(ll for ll, _ in self.score_tokens(windows, "lm-eval rolling log-likelihoods", truncate=False))
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), total)
            out.append(total)
        return out

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy (or sampled, as ``gen_kwargs`` say) generation from each context, cut at ``until``."""
        out = []
        for request in track(requests, "lm-eval generation"):
            context, gen_kwargs = request.args
            kwargs = dict(gen_kwargs)
            until = kwargs.pop("until", None) or [self.tok_decode([self.eot_token_id])]
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.pop("max_gen_toks", 256))
            temperature = float(kwargs.pop("temperature", 0.0))
            sample = bool(kwargs.pop("do_sample", False)) or temperature > 0
            extra = {"do_sample": True, "temperature": temperature} if sample else {}
            text = self.eco.generate(context, max_new_tokens=max_new, chat=False, **extra)[0].text
            for stop in until:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            out.append(text)
        return out


TASK_PLACEHOLDER = "__DATA_DIR__"


def write_local_tasks(directory: Path) -> Path:
    """Write the tasks shipped with eco-unlearn (``eco_hazard``: the items of ``eco bench hazard``) into
    ``directory``, their data paths made absolute, for lm-eval's ``--include_path``."""
    root = files("eco_unlearn").joinpath("data", "lm_eval")
    for task in root.iterdir():
        if not task.is_dir():
            continue
        out = Path(directory) / task.name
        out.mkdir(parents=True, exist_ok=True)
        for f in task.iterdir():
            if f.name.endswith(".yaml"):
                (out / f.name).write_text(f.read_text().replace(TASK_PLACEHOLDER, str(out.resolve())))
            else:
                with f.open("rb") as src, (out / f.name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    return Path(directory)


def evaluate(
    model: str,
    targets: Sequence[str | Path],
    tasks: Sequence[str],
    out_dir: Path,
    *,
    include_path: Sequence[str | Path] = (),
    gate: str = "context",
    limit: int | float | None = None,
    batch_size: int = 8,
    log_samples: bool = False,
    num_fewshot: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
) -> dict:
    """lm-eval's ``simple_evaluate`` with the ``eco`` model; writes ``lm_eval_results.json`` (lm-eval's
    results, plus how many scored sequences the targets flagged) into ``out_dir`` and returns it."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if not tasks:
        raise ValueError("no task given: pass --tasks (e.g. eco_hazard)")
    out_dir = Path(out_dir)
    lm = ECOHarnessLM(model, list(map(str, targets)), gate=gate, batch_size=batch_size, device=device, dtype=dtype)
    local = write_local_tasks(out_dir / "tasks")
    manager = TaskManager(include_path=[str(local), *map(str, include_path)])
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise ValueError(
            f"unknown lm-eval task(s): {', '.join(unknown)} (local tasks: eco_hazard; add --include-path DIR)"
        )
    results = simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit,
                              log_samples=log_samples, num_fewshot=num_fewshot, bootstrap_iters=0)  # fmt: skip
    results["eco"] = {
        "command": " ".join(["eco", "eval", *sys.argv[2:]]) if sys.argv[1:2] == ["eval"] else None,
        "model": model,
        "targets": [str(t) for t in targets],
        "gate": gate,
        **lm.flagged,
    }
    clean = json.loads(json.dumps(results, default=lm_utils.handle_non_serializable))
    atomic_write_json(out_dir / "lm_eval_results.json", clean)
    return clean
