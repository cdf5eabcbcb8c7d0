import json

from eco_unlearn.evaluation.bench.hazard import PROMPTING_PREFIX, _prefixed, general_items, run


def test_general_items_are_tofu_world_facts_with_the_answer_among_the_options():
    items = general_items()
    assert len(items) == 117
    first = items[0]
    assert first.prompt == "Where would you find the Eiffel Tower?" and first.options[first.answer] == "Paris"
    assert general_items() == items  # seeded shuffle


def test_prompting_baseline_prefixes_every_prompt():
    assert _prefixed(general_items()[:1])[0].prompt.startswith(PROMPTING_PREFIX)


def test_hazard_run_end_to_end_on_smollm2(tmp_path, smol):
    r = run(("smollm2",), n_eval=12, n_fit=12, seeds=1, out_dir=tmp_path, n_general=12)
    m = r["models"]["smollm2"]
    assert set(m["accuracy"]) == {"original", "prompting", "eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
    assert m["flag_rate"]["forget"] >= 0.9 and m["flag_rate"]["retain"] <= 0.1  # the gate sees every prompt
    acc = m["accuracy"]
    assert acc["original"]["forget"] >= 0.6
    assert acc["eco_zero_out"]["forget"] < acc["original"]["forget"]
    assert acc["eco_zero_out"]["retain"] == acc["original"]["retain"]  # unflagged prompts are untouched
    assert json.loads((tmp_path / "results.json").read_text()) == r
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "eco_sign_flip" in html
