"""TOFU's metrics: KS forget quality, harmonic-mean utility, and evaluate_set against hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eco_unlearn.evaluation.finetune import qa_prompt
from eco_unlearn.evaluation.tofu import (
    EvalItem,
    SetScores,
    evaluate_set,
    forget_quality,
    model_utility,
    set_utility,
)


def test_forget_quality_is_the_ks_p_value():
    rng = np.random.default_rng(0)
    a, b = list(rng.normal(0, 1, 60)), list(rng.normal(3, 1, 60))
    assert forget_quality(a, a) == 1.0
    assert forget_quality(a, b) == pytest.approx(stats.ks_2samp(a, b).pvalue) and forget_quality(a, b) < 1e-6


def test_model_utility_is_the_harmonic_mean_of_nine_numbers():
    mk = lambda p, r, t: SetScores(p, t, r, [], [])  # noqa: E731
    sets = {"retain": mk(0.5, 0.5, 0.5), "real_authors": mk(1.0, 1.0, 1.0), "world_facts": mk(0.25, 0.5, 1.0)}
    values = [0.5] * 3 + [1.0] * 3 + [0.25, 0.5, 1.0]
    assert model_utility(sets) == pytest.approx(len(values) / sum(1 / v for v in values))
    # each set's share (the trade-off curves draw them): its three numbers' harmonic mean, and theirs is the whole
    assert [set_utility(s) for s in sets.values()] == pytest.approx([0.5, 1.0, 3 / (4 + 2 + 1)])
    assert stats.hmean([set_utility(s) for s in sets.values()]) == pytest.approx(model_utility(sets))
    # a set that scores zero somewhere takes the model utility down to (nearly) zero, as TOFU's does
    sets["real_authors"] = mk(0.2, 0.0, 0.2)
    assert set_utility(sets["real_authors"]) < 1e-11 and model_utility(sets) < 1e-10


def test_evaluate_set_matches_a_hand_computation(tiny_eco):
    eco = tiny_eco()
    item = EvalItem("Where was Ann born?", "Ann was born in Oslo.", "Oslo is where Ann was born.",
                    ["Ann was born in Rome.", "Ann was born in Lima."])  # fmt: skip
    p = lambda x: float(np.exp(eco.score(qa_prompt(item.question), " " + x).mean()))  # noqa: E731
    plain = evaluate_set(eco, [item], options_normalised=False, max_new_tokens=4)
    assert plain.probability == pytest.approx(p(item.answer), rel=1e-4)
    ratio = np.mean([p(x) for x in item.perturbed]) / p(item.paraphrased)
    assert plain.ratios[0] == pytest.approx(ratio, rel=1e-4)
    assert plain.truth_ratio == pytest.approx(max(0.0, 1 - ratio), abs=1e-6)
    norm = evaluate_set(eco, [item], options_normalised=True, max_new_tokens=4)
    total = p(item.answer) + sum(p(x) for x in item.perturbed)
    assert norm.probability == pytest.approx(p(item.answer) / total, rel=1e-4)
    assert 0.0 <= plain.rouge_l <= 1.0 and len(plain.answers) == 1
    scores_only = evaluate_set(eco, [item], options_normalised=False, generate=False)
    assert scores_only.ratios == plain.ratios and scores_only.answers == [] and np.isnan(scores_only.rouge_l)


def test_the_answer_is_the_first_non_empty_line():
    from eco_unlearn.evaluation.tofu import first_line

    assert first_line("\n\n  Jane Austen.\nQuestion: next") == "Jane Austen."
    assert first_line("Paris\nLondon") == "Paris"
    assert first_line(" \n \n") == ""
