import pytest
import torch

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.gate.targets import Target

NOISE = {"name": "rand_noise_first_n", "strength": 0.5, "dims": None}
PROMPTS = ["Who wrote Emma?", "What is the capital of France and why is it famous?", "Hi"]


def noise_target(name="noise", **kw):
    return Target.create(name, corruption=kw.pop("corruption", NOISE), selection={"mode": "user_span"}, **kw)


def keyword_target(*words, name="kw", corruption=NOISE):
    return Target.create(
        name,
        gate={"kind": "keyword", "keywords": list(words)},
        corruption=corruption,
        selection={"mode": "all_but_last"},
    )


# --- tiny random-weight models (Llama, Gemma-3, Qwen2) -----------------------------------------------------


def test_unflagged_scores_equal_the_plain_model(tiny_eco, tokenizer):
    """Scoring keeps only the needed logits (a smaller lm_head matmul), so equality is to fp32 rounding."""
    eco = tiny_eco([keyword_target("zebra")])
    prompt, cont = "The capital of France is", " Paris"
    lp = eco.score(prompt, cont)
    ids = eco.encode_pair(prompt, cont).ids
    k = eco.encode(prompt, chat=False).prompt_len
    logits = eco.model(input_ids=torch.tensor([ids])).logits[0]
    ref = torch.log_softmax(logits[k - 1 : -1].float(), -1).gather(-1, torch.tensor(ids[k:])[:, None]).squeeze(-1)
    torch.testing.assert_close(lp, ref.detach(), rtol=0, atol=1e-5)


def test_inputs_embeds_path_matches_input_ids(tiny_eco):
    """A flagged prompt whose corruption is a no-op (σ = 0) gives the plain logits, to fp tolerance."""
    zero = tiny_eco([noise_target(corruption={"name": "rand_noise_first_n", "strength": 0.0, "dims": None})])
    plain = tiny_eco()
    a, b = zero.score("The capital of France is", " Paris"), plain.score("The capital of France is", " Paris")
    assert torch.allclose(a, b, atol=1e-5)


def test_unflagged_generation_is_bit_identical_to_model_generate(tiny_eco, tokenizer):
    eco = tiny_eco([keyword_target("zebra")])
    got = eco.generate(PROMPTS[0], max_new_tokens=8)[0]
    seg = eco.encode(PROMPTS[0])
    ref = eco.model.generate(
        torch.tensor([seg.ids]), max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )[0, len(seg.ids) :]
    stop = [i for i, t in enumerate(ref.tolist()) if t == tokenizer.eos_token_id]
    assert got.text == tokenizer.decode(ref[: stop[0] if stop else None], skip_special_tokens=True)
    assert got.flagged == [] and got.corrupted_tokens == 0


def test_batched_equals_one_by_one(tiny_eco):
    eco = tiny_eco([noise_target()])
    together = eco.generate(PROMPTS, max_new_tokens=6, min_new_tokens=6)
    alone = [eco.generate(p, max_new_tokens=6, min_new_tokens=6)[0] for p in PROMPTS]
    assert [g.text for g in together] == [g.text for g in alone]
    pairs = [(p, " and so on") for p in PROMPTS]
    for a, b in zip(eco.score_batch(pairs), [eco.score(*pair) for pair in pairs]):
        assert torch.allclose(a, b, atol=1e-4)


def test_mixed_batch_leaves_unflagged_rows_alone(tiny_eco):
    eco = tiny_eco([keyword_target("france")])
    plain = tiny_eco()
    got = eco.generate(PROMPTS, max_new_tokens=6, min_new_tokens=6)
    ref = plain.generate(PROMPTS, max_new_tokens=6, min_new_tokens=6)
    assert [bool(g.flagged) for g in got] == [False, True, False]
    assert got[0].text == ref[0].text and got[2].text == ref[2].text
    assert got[1].text != ref[1].text


def test_only_the_prefill_is_corrupted(tiny_eco):
    """generate == a manual greedy loop: corrupted prompt embeddings, clean embeddings for new tokens."""
    eco = tiny_eco([noise_target(corruption={"name": "rand_noise_first_n", "strength": 3.0, "dims": None})])
    got = eco.generate(PROMPTS[1], max_new_tokens=5, min_new_tokens=5)[0]
    plan = eco.plan([eco.encode(PROMPTS[1])])
    ids = torch.tensor([plan[0].seg.ids])
    embeds = eco._embeds(ids, plan, [0], eco.seed)
    table = eco.model.get_input_embeddings()
    new = []
    with torch.no_grad():
        for _ in range(5):
            nxt = eco.model(inputs_embeds=embeds).logits[0, -1].argmax()
            new.append(int(nxt))
            embeds = torch.cat([embeds, table(nxt.view(1, 1))], dim=1)
    assert got.text == eco.tokenizer.decode(new, skip_special_tokens=True)


def test_seed_controls_the_noise(tiny_eco):
    a = tiny_eco([noise_target()], seed=1).score(PROMPTS[1], " yes")
    b = tiny_eco([noise_target()], seed=1).score(PROMPTS[1], " yes")
    c = tiny_eco([noise_target()], seed=2).score(PROMPTS[1], " yes")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_strongest_corruption_and_union_of_selections(tiny_eco):
    weak = Target.create(
        "weak",
        corruption={"name": "rand_noise_first_n", "strength": 0.1, "dims": 1},
        selection={"mode": "entities"},
        entities=["France"],
    )
    strong = Target.create(
        "strong",
        corruption={"name": "zero_out_first_n", "strength": 5.0, "dims": None},
        selection={"mode": "entities"},
        entities=["capital"],
    )
    eco = tiny_eco([weak, strong])
    (plan,) = eco.plan([eco.encode(PROMPTS[1])])
    assert plan.corruption.name == "zero_out_first_n"
    text = "".join(plan.seg.text[s:e] for (s, e), on in zip(plan.seg.offsets, plan.mask) if on)
    assert text == " capital France"


def test_choose_returns_the_best_scoring_option(tiny_eco):
    eco = tiny_eco()
    choice = eco.choose("The colour of the sky is", ["blue", "green", "red"])
    manual = [float(eco.score("The colour of the sky is", " " + o).mean()) for o in ["blue", "green", "red"]]
    assert choice.scores == pytest.approx(manual, abs=1e-5)
    assert choice.index == max(range(3), key=manual.__getitem__)


def test_targets_argument_narrows_active_targets(tiny_eco):
    eco = tiny_eco([noise_target("a"), keyword_target("zebra", name="b")])
    assert eco.generate(PROMPTS[0], max_new_tokens=2, targets=["b"])[0].flagged == []
    assert eco.generate(PROMPTS[0], max_new_tokens=2, targets=["a"])[0].flagged == ["a"]
    with pytest.raises(ValueError, match="unknown target"):
        eco.generate(PROMPTS[0], targets=["nope"])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda e: e.generate(""), "empty prompt"),
        (lambda e: e.generate("   "), "empty prompt"),
        (lambda e: e.generate([{"role": "user", "content": ""}]), "empty prompt"),
        (lambda e: e.generate([{"role": "wizard", "content": "x"}]), "bad chat message"),
        (lambda e: e.generate("word " * 300), "exceeds the model's context"),
        (lambda e: e.generate("hi", max_new_tokens=250), "exceeds the model's context"),
        (lambda e: e.generate("hi", max_new_tokens=0), "max_new_tokens"),
        (lambda e: e.score("hi", ""), "empty continuation"),
        (lambda e: e.choose("hi", ["one"]), "at least two options"),
    ],
)
def test_bad_input_gives_clear_errors(tiny_eco, call, match):
    with pytest.raises(ValueError, match=match):
        call(tiny_eco())


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"corruption": {"name": "melt"}}, "unknown corruption"),
        ({"corruption": {"strength": -0.1}}, "greater than or equal to 0"),
        ({"selection": {"mode": "everything"}}, "selection.mode"),
    ],
)
def test_bad_target_settings(fields, match):
    with pytest.raises(ValueError, match=match):
        Target.create("x", **fields)


# --- the real SmolLM2 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol_eco(smol):
    return lambda targets=(): ECOModel(*smol, targets)


@pytest.mark.parametrize(
    "corruption",
    [{"name": "rand_noise_first_n", "strength": 0.4, "dims": None}, {"name": "zero_out_first_n", "dims": None}],
)
def test_smollm2_forgets_paris_when_the_question_is_corrupted(smol_eco, corruption):
    q = "What is the capital of France?"
    clean = smol_eco().generate(q, max_new_tokens=24)[0]
    assert "Paris" in clean.text
    target = Target.create("fr", corruption=corruption, selection={"mode": "user_span"})
    corrupted = smol_eco([target]).generate(q, max_new_tokens=24)[0]
    assert corrupted.flagged == ["fr"] and corrupted.corrupted_tokens == 7
    assert "Paris" not in corrupted.text


def test_smollm2_cloze_choice_flips_under_corruption(smol_eco):
    prompt, options = "The capital city of France is", ["Paris", "Lyon", "Berlin", "Madrid"]
    assert smol_eco().choose(prompt, options).index == 0
    t = Target.create("fr", corruption={"name": "rand_noise_first_n", "strength": 0.4, "dims": None})
    assert smol_eco([t]).choose(prompt, options).index != 0


def test_smollm2_substitute_makes_the_name_a_stranger_and_stays_fluent(smol_eco):
    """Substituting the entity's tokens by name-like words: SmolLM2 no longer answers about France, and the
    answer is still words (a fluent answer about somewhere else), not noise."""
    q = "What is the capital of France?"
    target = Target.create("fr", corruption={"name": "substitute"}, selection={"mode": "entities"},
                           entities=["France"])  # fmt: skip
    eco = smol_eco([target])
    donors = eco.donor_embeddings()
    assert donors.shape[0] > 1000 and donors.shape[1] == eco.hidden_size
    plan = eco.prepare(q)[0]
    embeds = eco.prompt_embeds(plan)
    masked = [i for i, m in enumerate(plan.mask) if m]
    assert len(masked) == 1 and any(torch.equal(embeds[masked[0]], d) for d in donors)
    out = eco.generate(q, max_new_tokens=24)[0]
    assert "Paris" not in out.text and sum(w.isalpha() for w in out.text.split()) >= 3
