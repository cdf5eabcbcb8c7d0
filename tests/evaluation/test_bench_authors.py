"""The authors bench's corruption fit: no peeking at the retain models, no overlap with evaluation data."""

from __future__ import annotations

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.authors import unseen_qa
from eco_unlearn.evaluation.bench.authors import fit_eco, prepare
from eco_unlearn.fit.objectives import normalise
from eco_unlearn.fit.search import check_disjoint


def test_fit_reads_no_retain_model_and_no_evaluation_question():
    prep = prepare(quick=True)
    hidden = {k: p.with_name(p.name + ".hidden") for k, p in prep.retain_ckpts.items()}
    target = ECOModel.from_pretrained(str(prep.target_ckpt))
    for k, p in prep.retain_ckpts.items():
        p.rename(hidden[k])  # the fit must work without them: it never reads a retain model
    try:
        fit, objective = fit_eco(target, prep.splits, prep.fit_qa, grid=3, refine=0)
    finally:
        for k, p in prep.retain_ckpts.items():
            hidden[k].rename(p)
    assert fit.name in {"rand_noise_first_n", "zero_out_top_k", "flip_sign_top_k"}
    assert fit.selection in {"answer_facts", "all_but_last"}
    assert {(c["name"], c["selection"]) for c in fit.candidates} == {
        (f, m)
        for f in ("rand_noise_first_n", "zero_out_top_k", "flip_sign_top_k")
        for m in ("answer_facts", "all_but_last")
    }
    # the tie rule: every passing candidate bootstrapped; a tied zero-out wins unless none is tied
    passed = [c for c in fit.candidates if c["check"]["ok"]]
    assert len(passed) > 1 and all(len(c["bootstrap"]) == 2 and isinstance(c["tied"], bool) for c in passed)
    tied = [c for c in passed if c["tied"]]
    zero = [c for c in tied if c["name"] == "zero_out_top_k"]
    want = min(zero or tied, key=lambda c: c["objective"])
    assert (fit.name, fit.selection, fit.objective) == (want["name"], want["selection"], want["objective"])
    fit_questions = {q.question for q in objective.items}
    assert all(any(a in q for a in prep.fit_authors) for q in fit_questions)
    # the fit authors reach into the retain pool, but none of the retain utility set's questions is a fit item
    retain_eval = {it.question for it in prep.fixed["retain"]}
    assert {a for a in prep.fit_authors if any(a in q for q in retain_eval)}, "the overlap case is not exercised"
    unseen = {x.author for x in [*prep.splits.held_out, *unseen_qa(prep.splits, 6)]}
    assert len(unseen) == 2 + 6 and not unseen & {a.name for a in prep.splits.authors}  # nobody trained on them
    assert len(objective.reference) == 12 * len(unseen)
    evaluated = [it.question for k in prep.splits.forget_sizes for it in prep.forget_items(k)]
    evaluated += [it.question for items in prep.fixed.values() for it in items]
    fit_keys = [normalise(q.removeprefix("Question: ").removesuffix("\nAnswer:")) for q in fit_questions]
    assert len(fit_keys) == len(prep.fit_qa) < 12 * len(prep.fit_authors)
    assert all("answer:" not in k for k in fit_keys)
    check_disjoint(fit_keys, [normalise(q) for q in evaluated])  # raises on any overlap


def test_another_seed_is_another_author_set_with_its_own_checkpoints():
    first, other = prepare(quick=True), prepare(quick=True, seed=1)
    assert [a.name for a in first.splits.authors] != [a.name for a in other.splits.authors]
    assert other.target_ckpt != first.target_ckpt and other.target_ckpt.exists()
    assert set(other.retain_ckpts.values()).isdisjoint(first.retain_ckpts.values())
    assert other.command.endswith(" --seed 1") and "--seed" not in first.command


def test_the_report_draws_every_selection_of_a_family_with_the_family_marker():
    from eco_unlearn.evaluation.bench.authors_report import MARKERS, row_family

    for row in ("eco_zero_out", "eco_zero_out_oracle", "eco_zero_out_all_but_last_oracle",
                "eco_zero_out_content_words", "eco_zero_out_proper_nouns_oracle"):  # fmt: skip
        assert row_family(row) == "eco_zero_out" and row_family(row) in MARKERS
    assert row_family("npo_rt") == "npo_rt"


def test_the_noise_floor_scores_a_second_never_trained_model_against_the_retain_model(tmp_path):
    """`eco bench authors --floor`: the retain recipe again with another training seed (same data, so the same
    forget questions and the same cached first retain model), scored against the first as a method is."""
    import json

    import numpy as np

    from eco_unlearn.evaluation.bench import authors_floor

    prep = prepare(quick=True)
    r = authors_floor.run(tmp_path, quick=True)
    assert set(r["splits"]) == {prep.splits.split_name(k) for k in prep.splits.forget_sizes}
    assert r["other_seed"] == prep.finetune_cfg.seed + authors_floor.FLOOR_SEED
    for k in prep.splits.forget_sizes:
        split = r["splits"][prep.splits.split_name(k)]
        assert split["forget_questions"] == len(prep.forget_items(k))
        assert 0.0 <= split["forget_quality"] <= 1.0
        fl = split["fluency"]
        assert (
            fl["text_perplexity_ratio"] == fl["retain_other_seed"]["text_perplexity"] / fl["retain"]["text_perplexity"]
        )
        assert isinstance(fl["met"], bool) and {"retain", "retain_other_seed", "repetition_ratio"} <= set(fl)
        # the first is the bench's own cached retain model; the second another checkpoint with other weights
        first, second = (
            ECOModel.from_pretrained(split["checkpoints"][m]).model for m in ("retain", "retain_other_seed")
        )
        assert split["checkpoints"]["retain"] == str(prep.retain_ckpts[k]) != split["checkpoints"]["retain_other_seed"]
        assert any(not a.equal(b) for a, b in zip(first.parameters(), second.parameters()))
    assert r["forget_quality"]["median"] == np.median([s["forget_quality"] for s in r["splits"].values()])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["splits"] == r["splits"] and (tmp_path / "report.html").read_text().startswith("<!doctype html>")
