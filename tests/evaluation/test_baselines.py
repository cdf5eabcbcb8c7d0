"""Weight-editing baselines on a tiny model: signs, objectives decrease, pads ignored, NPO by hand."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from eco_unlearn.evaluation.baselines import METHODS, UnlearnConfig, unlearn, unlearn_record
from eco_unlearn.evaluation.baselines.common import Cost, nll, sequence_logprob
from eco_unlearn.evaluation.baselines.npo import npo_loss
from eco_unlearn.evaluation.finetune import collate, encode_qa

FORGET = [("Where was Ann born?", "Oslo."), ("What does Ann write?", "Poetry about the sea and ships.")] * 4
RETAIN = [("Where was Bob born?", "Lima."), ("What does Bob write?", "Crime novels.")] * 4


@pytest.fixture
def batches(tokenizer):
    pad = tokenizer.pad_token_id
    return collate(encode_qa(tokenizer, FORGET[:2]), pad), collate(encode_qa(tokenizer, RETAIN[:2]), pad)


def test_npo_matches_the_formula_by_hand():
    policy, ref, beta = torch.tensor([-3.0, -7.0]), torch.tensor([-4.0, -5.0]), 0.1
    by_hand = -(2 / beta) * sum(math.log(1 / (1 + math.exp(beta * (p - r)))) for p, r in zip([-3, -7], [-4, -5])) / 2
    assert npo_loss(policy, ref, beta).item() == pytest.approx(by_hand, rel=1e-6)
    # small β: NPO's gradient points where gradient ascent's does (it is GA in the β → 0 limit)
    p = policy.clone().requires_grad_(True)
    npo_loss(p, ref, 1e-4).backward()
    assert (p.grad > 0).all()


def test_pad_tokens_do_not_count(tiny_llama_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    data = encode_qa(tokenizer, FORGET[:1])
    alone = collate(data, tokenizer.pad_token_id)
    padded = collate(data + encode_qa(tokenizer, [("A much longer question than the first one?", "Yes.")]), 0)
    with torch.no_grad():
        a = sequence_logprob(model, alone)[0]
        b = sequence_logprob(model, padded)[0]
    assert b.item() == pytest.approx(a.item(), abs=1e-4)
    assert (padded["labels"][0, len(data[0][0]) :] == -100).all()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_loss_has_the_right_sign_and_decreases(method, tiny_llama_dir, batches):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).train()
    ref = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval().requires_grad_(False)
    forget, retain = batches
    cfg = UnlearnConfig(lr=1e-3)
    fn = METHODS[method].loss
    with torch.no_grad():
        before_nll = nll(model, forget).item()
        first = fn(model, ref, forget, retain, cfg, Cost()).item()
        f, r = nll(model, forget).item(), nll(model, retain).item()
    npo_at_start = 2 / cfg.beta * math.log(2)  # policy == reference: -(2/β) log σ(0)
    expected = {"ga": -f, "gd": -f + r, "kl": -f, "npo": npo_at_start, "npo_rt": npo_at_start + r}[method]
    assert first == pytest.approx(expected, rel=1e-4, abs=1e-4)  # sign and value at the start (KL term 0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        fn(model, ref, forget, retain, cfg, Cost()).backward()
        opt.step()
    with torch.no_grad():
        last = fn(model, ref, forget, retain, cfg, Cost()).item()
        after_nll = nll(model, forget).item()
    assert last < first  # the objective goes down
    assert after_nll > before_nll  # and the forget set becomes less likely


def test_unlearn_records_cost_and_caches(tiny_llama_dir, tmp_path):
    cfg = UnlearnConfig(epochs=1, batch_size=4, lr=1e-4)
    ckpt = unlearn("npo_rt", tiny_llama_dir, FORGET, RETAIN, tmp_path, cfg)
    rec = unlearn_record(ckpt)
    cost = rec["cost"]
    assert rec["method"] == "npo_rt" and len(rec["loss"]) == 2
    # per step: policy + reference on 4 forget sequences, policy on 4 retain ones; one backward
    assert cost["forward_passes"] == 2 * (2 * 4 + 4) and cost["backward_passes"] == 2
    assert cost["seconds"] > 0 and cost["peak_rss_mb"] > 0
    # denormals are flushed while training only: the process's arithmetic is as before afterwards
    assert torch.tensor([1e-40]).mul(1.0).item() != 0.0
    stamp = (ckpt / "unlearn.json").stat().st_mtime_ns
    assert unlearn("npo_rt", tiny_llama_dir, FORGET, RETAIN, tmp_path, cfg) == ckpt
    assert (ckpt / "unlearn.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="unknown baseline"):
        unlearn("rmu", tiny_llama_dir, FORGET, RETAIN, tmp_path, cfg)
    with pytest.raises(ValueError, match="needs retain"):
        unlearn("gd", tiny_llama_dir, FORGET, [], tmp_path, cfg)


def test_eco_baseline_run_on_the_quick_authors_task():
    from eco_unlearn.evaluation.bench.authors import run_baseline

    r = run_baseline("npo", "forget25", quick=True, unlearn_cfg=UnlearnConfig(epochs=1, batch_size=8, lr=1e-4))
    assert r["method"] == "npo" and 0.0 <= r["forget_quality"] <= 1.0 and r["model_utility"] >= 0.0
    assert r["cost"]["backward_passes"] == 3  # 24 forget questions in batches of 8, one epoch
    with pytest.raises(ValueError, match="unknown split"):
        run_baseline("npo", "forget99", quick=True)


def _text_nll(model_dir, tokenizer, texts: list[str]) -> float:
    from eco_unlearn.evaluation.finetune import encode_text

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return float(nll(model, collate(encode_text(tokenizer, texts), tokenizer.pad_token_id)))


def test_plain_strings_are_unlearned_as_text_every_token_counting(tiny_llama_dir, tokenizer, tmp_path):
    book = ["It is a truth universally acknowledged, that a single man in possession of a good fortune"] * 4
    cfg = UnlearnConfig(epochs=2, batch_size=4, lr=1e-3)
    ckpt = unlearn("ga", tiny_llama_dir, book, [], tmp_path, cfg)
    assert unlearn_record(ckpt)["cost"]["backward_passes"] == 2
    assert _text_nll(ckpt, tokenizer, book) > _text_nll(tiny_llama_dir, tokenizer, book) + 0.01


def test_copyright_bench_tabulates_baselines_with_their_cost(tmp_path):
    import json

    from eco_unlearn.evaluation.bench.copyright import run
    from eco_unlearn.fit.objectives import SIMILARITY_METRICS

    with pytest.raises(ValueError, match="unknown fit objective"):
        run(out_dir=tmp_path, quick=True, objective="rouge")
    with pytest.raises(ValueError, match="--splits must be at least 1"):
        run(out_dir=tmp_path, quick=True, splits=0)
    r = run(out_dir=tmp_path, quick=True, baselines=("ga",), objective="similarity_gap", splits=2, floor=True,
            curves=True)  # fmt: skip
    assert set(r["asg"]) >= {"original", "retain", "eco_sign_flip", "ga"} and r["asg"]["ga"] >= 0.0
    assert r["cost"]["ga"]["backward_passes"] > 0 and r["cost"]["eco_sign_flip"]["backward_passes"] == 0
    assert r["command"].endswith("--baselines ga --objective similarity_gap --splits 2 --floor --curves")
    # the strength trade-off of each fitted family, every prompt corrupted: at its fitted setting a curve is
    # that family's oracle row (the same corruption on every forget prompt)
    assert set(r["curves"]) == set(r["served"]) == {"eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
    for row, points in r["curves"].items():
        key = "strength" if row == "eco_rand_noise" else "dims"
        served = next(p for p in points if p[key] == r["served"][row][key])
        assert served["forget"] == r["scores"][row + "_oracle"]["forget"]["rouge_l"]
        assert len(points) >= 4 and all(0.0 <= p["retain"] <= 1.0 for p in points)
    assert 'alt="strength trade-off"' in (tmp_path / "report.html").read_text()
    # another never-trained model (the retain recipe, another training seed): scored, reported as the floor
    assert r["scores"]["retain_other_seed"]["forget"]["rouge_l"] >= 0 and r["asg"]["retain_other_seed"] >= 0
    assert r["splits"]["floor"]["values"][0] == r["asg"]["retain_other_seed"]
    # two splits over one set of checkpoints: medians with every split's value, drawn in the report
    assert r["splits"]["n"] == 2 and len(r["splits"]["asg"]["ga"]["values"]) == 2
    # the request is the same on every split: one gate, created once
    assert (tmp_path / "target" / "target.json").exists() and not (tmp_path / "split-1" / "target").exists()
    # the fit checked each candidate's continuations against the clean target's on unseen text
    assert all({"ok", "topicality", "reference_topicality"} <= set(c["check"]) for c in r["fit"]["candidates"])
    # the ASG-style fit records its reference: the surrogate's three scores (the target on held-out text)
    fit = r["fit"]
    assert fit["objective"] == "similarity_gap" and set(fit["surrogate_scores"]) == set(SIMILARITY_METRICS)
    assert all(c["objective"] >= 0.0 for c in fit["candidates"])
    # the report draws the strength trade-off from the points the fit evaluated, per family
    assert {t["family"] for t in fit["trajectory"]} == {c["name"] for c in fit["candidates"]}
    assert 'alt="fit trade-off"' in (tmp_path / "report.html").read_text()
    assert 'alt="ASG over splits"' in (tmp_path / "report.html").read_text()
    # continuation fluency against the retain model's: the retain model is 1.0 on both ratios by definition
    assert r["fluency"]["retain"] == {"perplexity_ratio": 1.0, "repetition_ratio": 1.0, "met": True}
    ga = r["scores"]["ga"]["forget"]["fluency"]
    assert ga["perplexity"] > 0 and r["fluency"]["ga"]["perplexity_ratio"] == pytest.approx(
        ga["perplexity"] / r["scores"]["retain"]["forget"]["fluency"]["perplexity"]
    )
    split = r["retain_split"]  # the baselines' retain loss never trains on a scored retain prompt's chunk
    assert split["scored"] and split["baseline_retain"] and not set(split["scored"]) & set(split["baseline_retain"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["asg"] == r["asg"] and "<td>ga</td>" in (tmp_path / "report.html").read_text()


def test_the_copyright_surrogate_reads_novels_the_task_never_trains_gates_or_scores(tokenizer):
    from eco_unlearn.evaluation.bench.copyright import UNSEEN_BOOKS, builtin_data, spread
    from eco_unlearn.evaluation.corpora import austen, chapters

    data, target_train, retain_train = builtin_data(tokenizer, 6, 2, 48, 16, 16, quick=True)
    text = {b: "\n".join(chapters(austen(b))) for b in ("prideprejudice", "persuasion", "emma", *UNSEEN_BOOKS)}
    assert len(data.heldout_text) == 2 * len(UNSEEN_BOOKS)
    assert "\n".join(data.request_text) == text["prideprejudice"]  # the request supplies the whole book
    for chunk in data.heldout_text:  # its words come from an unseen novel, and from no novel the task uses
        snippet = chunk.strip().split("\n")[0][:40]
        found = {b for b, t in text.items() if snippet in t}
        assert len(found) == 1 and found <= set(UNSEEN_BOOKS), (snippet, found)
        assert chunk not in target_train + retain_train + data.gate_forget + data.gate_retain
    assert spread(list("abcdefgh"), 4) == list("aceg")
    with pytest.raises(ValueError, match="3 chunks; 4 are needed"):
        spread(list("abc"), 4)


def test_copyright_splits_reshuffle_scored_and_fit_chunks_and_nothing_else(tokenizer):
    """A split chooses which trained chunks are scored and which the fit reads; training data, the baselines'
    text and the gate do not move, so every split reuses one set of checkpoints."""
    from eco_unlearn.evaluation.bench.copyright import builtin_data

    runs = [builtin_data(tokenizer, 6, 2, 48, 16, 16, quick=True, split=k) for k in (0, 1)]
    (d0, train0, _), (d1, train1, _) = runs[0], runs[1]
    assert train0 == train1 and d0.unlearn_forget == d1.unlearn_forget and d0.gate_forget == d1.gate_forget
    assert d0.retain_items == d1.retain_items and d0.heldout_items == d1.heldout_items
    for data, _, _ in runs:  # scored and fit prompts partition the trained chunks' openings
        scored = {it.prompt for it in data.forget_items}
        fitted = {it.prompt for it in data.fit_items}
        assert len(scored) == 6 and not scored & fitted
    assert [it.prompt for it in d0.forget_items] != [it.prompt for it in d1.forget_items]
    again, _, _ = builtin_data(tokenizer, 6, 2, 48, 16, 16, quick=True, split=1)
    assert again.forget_items == d1.forget_items  # seeded: a split is reproducible


def test_split_summary_takes_medians_and_checks_the_goal_on_the_fits_row():
    from eco_unlearn.evaluation.bench.copyright import summarise_splits

    def result(chosen: str, asg: dict) -> dict:
        rows = {m: {"retain": {"rouge_l": 1.0}} for m in asg}
        return {"fit": {"chosen": chosen}, "asg": asg, "scores": rows,
                "fluency": {m: {"met": m == "eco_rand_noise"} for m in asg}}  # fmt: skip

    asg = lambda noise, zero, npo: {"original": 0.8, "retain": 0.0, "eco_rand_noise": noise,  # noqa: E731
                                    "eco_zero_out": zero, "npo": npo, "retain_other_seed": 0.001}  # fmt: skip
    runs = [result("rand_noise_first_n", asg(0.01, 0.5, 0.04)), result("zero_out_top_k", asg(0.5, 0.02, 0.05)),
            result("rand_noise_first_n", asg(0.03, 0.5, 0.06))]  # fmt: skip
    s = summarise_splits(runs)
    assert s["chosen"] == ["eco_rand_noise", "eco_zero_out", "eco_rand_noise"]
    assert s["asg"]["eco_fit"] == {"median": 0.02, "min": 0.01, "max": 0.03, "values": [0.01, 0.02, 0.03]}
    assert s["asg"]["npo"]["median"] == 0.05 and s["fluency_met"]["eco_fit"] == 2
    assert s["goal"] == {"lowest": True, "best_baseline": "npo", "half_best_baseline": True}  # the floor is no rival
    assert s["floor"]["median"] == 0.001
    runs[1]["asg"]["eco_zero_out"] = 0.2  # the second split's fit now misses: median 0.03 > 0.05 / 2
    assert summarise_splits(runs)["goal"]["half_best_baseline"] is False


def test_split_retain_keeps_scored_and_training_chunks_apart():
    from eco_unlearn.evaluation.bench.copyright import split_retain

    chunks = [f"chunk {i}" for i in range(10)]
    assert split_retain(chunks, 3, 4) == (chunks[:3], chunks[3:7])
    with pytest.raises(ValueError, match="10 chunks; 12 are needed"):
        split_retain(chunks, 6, 6)
    with pytest.raises(ValueError, match="also in the baselines' retain data"):
        split_retain(["same", "other", "same"], 1, 2)


def test_fit_and_surrogate_items_are_every_window_of_their_chunks_scored_items_the_opening(tokenizer):
    from eco_unlearn.evaluation.bench.copyright import split_item, text_items

    chunk = " ".join(f"word{i}" for i in range(40))
    ids = tokenizer(chunk, add_special_tokens=False).input_ids
    n = len(ids) - 16  # windows of 8 + 8 start at 0, 8, … while a whole gold continuation is left
    items = text_items(tokenizer, [chunk, chunk], 8, 8)
    assert len(items) == 2 * (n // 8 + 1) and n // 8 + 1 >= 3
    for k, it in enumerate(items[: n // 8 + 1]):
        assert (it.prompt, it.continuation) == (tokenizer.decode(ids[8 * k : 8 * k + 8]),
                                                tokenizer.decode(ids[8 * k + 8 : 8 * k + 16]))  # fmt: skip
    assert split_item(tokenizer, chunk, 8, 8) == items[0]  # a scored item: the opening only
    short = tokenizer.decode(ids[:10])  # shorter than prompt + gold: one item, as before
    assert len(text_items(tokenizer, [short], 8, 8)) == 1


def test_the_copyright_protocol_has_signal_only_when_the_target_memorised_and_the_retain_model_did_not():
    from eco_unlearn.evaluation.bench.copyright import memorisation_signal

    def scores(target: float, retain: float) -> dict:
        return {"original": {"forget": {"rouge_l": target}}, "retain": {"forget": {"rouge_l": retain}}}

    assert memorisation_signal(scores(0.62, 0.12))["met"]
    assert not memorisation_signal(scores(0.19, 0.12))["met"]  # the old target: weakly memorised
    assert not memorisation_signal(scores(0.62, 0.40))["met"]  # a retain model that knows the text
    assert memorisation_signal(scores(0.5, 0.25))["met"]  # the bounds are inclusive


def test_hazard_bench_unlearns_the_pretrained_model_as_wmdp_does(tmp_path):
    import json

    from eco_unlearn.core.models import cache_dir
    from eco_unlearn.evaluation.bench.authors import quick_base
    from eco_unlearn.evaluation.bench.hazard import run

    base = quick_base(cache_dir() / "finetuned")
    r = run((base,), n_eval=8, n_fit=6, seeds=1, out_dir=tmp_path, n_general=8, baselines=("ga",), baseline_lr=1e-3,
            gate_questions=1)  # fmt: skip
    m = r["models"][base]
    assert set(m["accuracy"]) >= {"original", "eco_rand_noise", "ga"} and set(m["goals"]) >= {"ga", "eco_zero_out"}
    assert m["cost"]["ga"]["backward_passes"] > 0 and m["cost"]["eco_zero_out"]["backward_passes"] == 0
    assert "--baselines ga --baseline-lr 0.001 --gate-questions 1" in r["command"]
    assert "<td>ga</td>" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "results.json").read_text()) == r
