import json

import numpy as np
import pytest

from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.gate.create import create_target, general_prompts, read_report
from eco_unlearn.gate.targets import MANIFEST, Target


@pytest.fixture(scope="module")
def prompts():
    chem, _ = domain_prompts("chemistry", per_item=2, seed=1)
    geo, _ = domain_prompts("geography", per_item=1, seed=1)
    return chem[:120], geo[:120]


def test_general_prompts_are_the_shipped_tofu_questions():
    g = general_prompts()
    assert len(g) == 217 and "What is the capital of Australia?" in g


def test_create_writes_a_complete_calibrated_bundle(tmp_path, prompts):
    target, rep = create_target(
        "chem",
        *prompts,
        tmp_path / "chem",
        alpha=0.1,
        backbone="auto",
        corruption={"name": "zero_out_first_n", "dims": None},
        entities=["Gold"],
    )
    names = sorted(p.name for p in (tmp_path / "chem").iterdir())
    assert names == ["calibration.json", "calibration.png", "classifier", MANIFEST]
    assert [p.name for p in tmp_path.iterdir()] == ["chem"]  # no staging directory left behind
    back = Target.load(tmp_path / "chem")
    assert back.manifest.gate.kind == "classifier" and back.threshold == pytest.approx(rep["threshold"])
    cal = back.manifest.gate.calibration
    assert cal["method"] == "cross-conformal" and cal["alpha"] == 0.1 and cal["max_fpr"] == 0.02
    assert cal["n_calibration"] == 120  # every forget prompt calibrates τ through its out-of-fold score
    assert "FNR ≤ 0.1" in cal["guarantee"] and "FPR ≤ 0.02" in cal["guarantee"]
    assert rep["feasible"] and rep["n_train"]["background"] > 300
    assert read_report(tmp_path / "chem") == json.loads((tmp_path / "chem" / "calibration.json").read_text())
    assert rep["auroc"] >= 0.95 and rep["fpr_general"] <= 0.05
    assert back.flags(["What is the atomic number of gold?", "What is the capital of Peru?"]).tolist() == [True, False]
    # the default backbone (auto): the gate reads the classifier, so it is recreated on minilm+e5, and the
    # bundle's classifier reads a chemistry question asked in French, which MiniLM alone can miss
    assert rep["backbone"] == "minilm+e5" and rep["backbone_choice"].startswith("auto: the gate reads the classifier")
    assert getattr(back.gate, "classifier", back.gate).kind == "routed"
    assert back.flags(["Quel est le numéro atomique de l'or ?", "Quelle est la capitale du Pérou ?"]).tolist() == [
        True,
        False,
    ]


def test_auto_backbone_keeps_minilm_for_a_names_only_gate(tmp_path):
    """Fictitious people told apart by their names alone (the request lists them): the names-only gate never
    reads the classifier, so the default backbone stays MiniLM (the fastest to create)."""
    from eco_unlearn.evaluation.authors import make_authors

    people = make_authors(16, seed=3)
    ask = ["Where was {} born?", "What is {} best known for?", "Who influenced {}?", "When did {} start writing?"]
    forget = [q.format(a.name) for a in people[:8] for q in ask]
    retain = [q.format(a.name) for a in people[8:] for q in ask]
    names = [a.name for a in people[:8]]
    _, rep = create_target("people", forget, retain, tmp_path / "p", alpha=0.1, entities=names, backbone="auto")
    assert rep["mode"] == "entities"
    assert rep["backbone"] == "minilm" and rep["backbone_choice"].startswith("auto: names-only gate")


def test_auto_backbone_rules(monkeypatch):
    from eco_unlearn.gate.backbone import auto_backbone, create_backbone, multilingual_installed

    monkeypatch.delenv("ECO_GATE_BACKBONE", raising=False)
    assert create_backbone(None) == "auto" and create_backbone("e5") == "e5"
    monkeypatch.setenv("ECO_GATE_BACKBONE", "minilm")
    assert create_backbone(None) == "minilm" and create_backbone("auto") == "auto"

    assert auto_backbone("entities", "embedding")[0] == "minilm"
    assert auto_backbone("classifier", "finetune")[0] == "minilm"  # e5's 4-bit engine cannot be fine-tuned
    assert auto_backbone("max", "embedding")[0] == ("minilm+e5" if multilingual_installed() else "minilm")


def test_fixed_threshold_and_refusals(tmp_path, prompts):
    _, rep = create_target("fixed", *prompts, tmp_path / "t", alpha=None, threshold=0.99)
    assert rep["method"] == "fixed" and rep["threshold"] == 0.99
    with pytest.raises(FileExistsError, match="already exists"):
        create_target("fixed", *prompts, tmp_path / "t", alpha=None, threshold=0.99)
    with pytest.raises(ValueError, match="exactly one of alpha"):
        create_target("x", *prompts, tmp_path / "u", alpha=0.1, threshold=0.9)
    with pytest.raises(ValueError, match="name"):
        create_target("bad name!", *prompts, tmp_path / "v")
    with pytest.raises(ValueError, match="unknown corruption"):
        create_target("x", *prompts, tmp_path / "w", corruption={"name": "melt"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


def test_overwrite_replaces_the_bundle_whole(tmp_path, prompts):
    create_target("a", *prompts, tmp_path / "t", alpha=None, threshold=0.9)
    (tmp_path / "t" / "stray.txt").write_text("old")
    create_target("b", *prompts, tmp_path / "t", alpha=None, threshold=0.8, overwrite=True)
    assert Target.load(tmp_path / "t").name == "b" and not (tmp_path / "t" / "stray.txt").exists()


def test_tiny_calibration_set_warns(tmp_path):
    forget = [f"What is the atomic number of element {i}?" for i in range(10)]
    retain = [f"What is the capital of country {i}?" for i in range(10)]
    _, rep = create_target("small", forget, retain, tmp_path / "s", alpha=0.05, general=["Hello there"])
    assert rep["threshold"] == 0.0 and "too few for alpha" in rep["warning"]


def test_names_of_lower_case_forget_prompts_are_read_back_and_a_request_without_any_warns(tmp_path):
    """Found trying the product on a request written in lower case ("who is harry potter?"): the gate fell
    back to a topic classifier in silence, and flagged "Who is Beatrix Potter?". The language model now reads
    the names back; a lower-case request with no name in it still says why the gate has none."""
    people = ["Harry Potter", "Hermione Granger", "Albus Dumbledore", "Rubeus Hagrid", "Draco Malfoy"]
    others = ["Frodo Baggins", "Lucy Pevensie", "Paul Atreides", "Geralt of Rivia", "Ged Sparrowhawk"]
    questions = ["Who is {}?", "Describe {}.", "Where does {} live?", "What is {} known for?"]
    forget = [q.format(n) for n in people for q in questions]
    retain = [q.format(n) for n in others for q in questions]
    lower = ([f.lower() for f in forget], [r.lower() for r in retain])
    target, rep = create_target("hp", *lower, tmp_path / "lower", alpha=0.1)
    assert set(rep["names_read_back"]) == set(people) and rep["mode"] != "classifier"
    assert "lower case" not in rep.get("warning", "")
    p = target.p_forget(["Who is Harry Potter?", "Who is Beatrix Potter?", "How tall is Hagrid?"])
    assert (p >= target.threshold).tolist() == [True, False, True]
    _, rep = create_target("hp", lower[0], retain, tmp_path / "named", alpha=0.1, folds=0, entities=people)
    assert "names_read_back" not in rep and "lower case" not in rep.get("warning", "")
    # a topic in lower case: the model reads no phrase as a name, and the warning says what to do
    dishes, plants = ["bread", "pasta", "soup", "rice", "pancakes"], ["roses", "tomatoes", "tulips", "ferns", "basil"]
    cook = [q.format(d) for d in dishes for q in ("how do i cook {}?", "what goes well with {}?")]
    grow = [q.format(g) for g in plants for q in ("how do i grow {}?", "when should i water {}?")]
    _, rep = create_target("cooking", cook, grow, tmp_path / "topic", alpha=0.1, folds=0)
    assert "lower case" in rep["warning"] and "--entities" in rep["warning"] and "names_read_back" not in rep


def test_a_request_naming_each_character_once_is_told_to_list_its_names(tmp_path):
    """Found trying the product on a franchise request (Harry Potter vs other fantasy): most forget prompts name a
    character once, so only the names written twice are found, the topic classifier cannot meet both bounds, and
    the gate flagged a sixth of the neighbours. `target create` now says which prompts name nothing found and how
    to fix it; listing the names gives a names-only gate that meets both bounds."""
    once = ["Albus Dumbledore", "Lord Voldemort", "Severus Snape", "Sirius Black", "Neville Longbottom", "Dobby",
            "Bellatrix Lestrange", "Rubeus Hagrid", "Draco Malfoy", "Luna Lovegood", "Remus Lupin"]  # fmt: skip
    others = ["Frodo Baggins", "Gandalf", "Aslan", "Katniss Everdeen", "Tyrion Lannister", "Lyra Belacqua",
              "Percy Jackson", "Arya Stark", "Bilbo Baggins", "Eragon", "Kvothe", "Rincewind"]  # fmt: skip
    qs = ["Who is {}?", "What is {} known for?", "Describe {}.", "What happens to {} in the end?"]
    forget = [qs[i % 4].format(n) for i, n in enumerate(once)] + [q.format("Harry Potter") for q in qs]
    forget += ["Who teaches at Hogwarts?", "What is Hogwarts?"]
    retain = [qs[i % 4].format(n) for i, n in enumerate(others)] + [q.format("Frodo Baggins") for q in qs]
    _, rep = create_target("hp", forget, retain, tmp_path / "found", alpha=0.1, backbone="minilm")
    assert rep["entities"] == ["Harry Potter", "Hogwarts"] and not rep["feasible"]
    assert rep["unnamed_forget"] == len(once)
    assert f"{len(once)} of {len(forget)} forget prompts name none" in rep["warning"]
    assert '"Who is Albus Dumbledore?"' in rep["warning"] and "--entities FILE" in rep["warning"]
    target, rep = create_target("hp", forget, retain, tmp_path / "listed", alpha=0.1, backbone="minilm",
                                entities=once + ["Harry Potter", "Hogwarts"])  # fmt: skip
    assert rep["mode"] == "entities" and rep["feasible"] and "unnamed_forget" not in rep
    assert "name none" not in rep.get("warning", "") and rep["fpr_retain_test"] == rep["fpr_background"] == 0.0
    assert target.flags(["Who is Gandalf?", "Who is Luna Lovegood?"]).tolist() == [False, True]


def test_split_conformal_and_the_fpr_budget_on_held_out_negatives(tmp_path, prompts):
    _, rep = create_target("split", *prompts, tmp_path / "s", alpha=0.1, folds=0, max_fpr=0.05)
    assert rep["method"] == "conformal" and rep["n_calibration"] == 24 and rep["folds"] == 0
    # the NP threshold sits above the held-out negatives it was computed on, bar the budget
    # calibration negatives: held-out retain prompts, plain and in training's wrappers, and background
    n_neg = rep["n_negative_calibration"]
    assert n_neg == 2 * rep["n"]["retain_test"] + rep["n"]["background"]
    assert rep["modes"][rep["mode"]]["fpr_negative_calibration"] <= 0.05
    with pytest.raises(ValueError, match="folds"):
        create_target("x", *prompts, tmp_path / "f", folds=1)
    with pytest.raises(ValueError, match="max_fpr"):
        create_target("x", *prompts, tmp_path / "g", max_fpr=1.5)


def test_background_negatives_lower_false_positives_on_ordinary_prompts(tmp_path, prompts):
    """The same request with and without the built-in background: ordinary prompts of a question-like form
    are flagged less once the classifier has seen ordinary traffic (held-out background prompts)."""
    common = dict(alpha=None, threshold=0.5, folds=0)
    with_bg, rep = create_target("bg", *prompts, tmp_path / "a", **common)
    without, _ = create_target("nobg", *prompts, tmp_path / "b", background=False, **common)
    ordinary = [
        "How do I boil an egg?", "Who painted the Mona Lisa?", "Write a limerick about a dog.",
        "What is a good name for a goldfish?", "Explain how a bicycle gear works.", "Hello! How was your day?",
        "What year did the Second World War end?", "Summarise the plot of a heist movie.",
    ]  # fmt: skip
    assert with_bg.p_forget(ordinary).mean() < without.p_forget(ordinary).mean()
    assert rep["n_train"]["background"] > 300


def test_another_backbone_trains_against_the_same_background(tmp_path, prompts, tiny_llama_dir):
    """Which background prompts are too close to the forget prompts to be negatives is a sentence-embedding
    question, answered by the default encoder whatever the classifier's backbone: a causal LM's hidden
    states (here a tiny random Llama's) sit so close together that, by their cosine, almost every background
    prompt would look close to a forget prompt and be dropped."""
    common = dict(alpha=None, threshold=0.5, folds=0)
    _, default = create_target("minilm", *prompts, tmp_path / "a", **common)
    _, other = create_target("llama", *prompts, tmp_path / "b", backbone=str(tiny_llama_dir), **common)
    assert other["backbone"] == str(tiny_llama_dir)
    assert other["n_train"]["background"] == default["n_train"]["background"] > 300


def test_mode_choice_without_a_feasible_mode_prefers_the_fewest_false_positives_not_a_flag_everything_gate():
    """No mode meets both bounds: each τ keeps the FNR bound, and the names-only mode can only do that at τ = 0
    (it flags every prompt). The classifier, with a few false positives, must win."""
    from eco_unlearn.gate.create import _choose_mode
    from eco_unlearn.gate.entity_evidence import combine_parts

    held = np.zeros((40, 3))
    held[:, 0] = [0.9] * 38 + [0.3] * 2  # classifier: two forget prompts score low
    held[:10, 1] = 1.0  # a name in ten of them only
    negatives = np.zeros((300, 3))
    negatives[:, 0] = [0.1] * 290 + [0.5] * 10  # ten neighbours above the low forget prompts
    modes = ("entities", "classifier", "max")
    negative = {m: combine_parts(negatives, m) for m in modes}
    mode, chosen, errors = _choose_mode(held, negative, modes, alpha=0.05, max_fpr=0.02, bound="test")
    assert not any(e["feasible"] for e in errors.values())
    assert errors["entities"]["threshold"] == 0.0 and errors["entities"]["fpr_negative_calibration"] == 1.0
    assert mode == "classifier" and chosen.tau == errors["classifier"]["threshold"] <= 0.3
    assert errors["classifier"]["fpr_negative_calibration"] == pytest.approx(10 / 300)
