"""The minilm+e5 backbone's classifier: MiniLM's score on English prompts, the max of MiniLM's and e5's on
others, one shared encoder pass for many targets, and a bundle that round-trips or fails clearly."""

import json

import numpy as np
import pytest

from eco_unlearn.core.target import gate_scores
from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.gate.backbone import ROUTED_BACKBONE
from eco_unlearn.gate.classifier import load_classifier, train_classifier
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.errors import BundleError
from eco_unlearn.gate.routed_classifier import RoutedClassifier
from eco_unlearn.gate.targets import Target, TargetManifest

ENGLISH = ["What is the atomic mass of sodium?", "What is the capital of Kenya?"]
# chemistry without English cognates (gold, lead, hydrogen), then geography, in French, German and Spanish
FOREIGN_CHEMISTRY = [
    "Quel est le symbole chimique de l'or ?",
    "Le plomb fond à quelle température ?",
    "Was ist die Ordnungszahl von Wasserstoff?",
    "¿Cuál es el símbolo químico del oro?",
]
FOREIGN_GEOGRAPHY = [
    "Wie heißt die Hauptstadt von Kenia?",
    "¿Qué río atraviesa El Cairo?",
    "Quelle est la capitale de l'Allemagne ?",
]
FOREIGN = FOREIGN_CHEMISTRY + FOREIGN_GEOGRAPHY


@pytest.fixture(scope="module")
def routed():
    chem, _ = domain_prompts("chemistry", per_item=2, seed=1)
    geo, _ = domain_prompts("geography", per_item=1, seed=1)
    clf, _ = train_classifier("embedding", chem[:80], geo[:80], backbone=ROUTED_BACKBONE)
    return clf


def test_english_prompts_score_minilm_alone_and_others_the_max_of_both(routed):
    assert isinstance(routed, RoutedClassifier)
    assert routed.english.encoder.backbone == "minilm" and routed.multilingual.encoder.backbone == "e5"
    assert np.array_equal(routed.p_forget(ENGLISH), routed.english.p_forget(ENGLISH))
    both = np.maximum(routed.english.p_forget(FOREIGN), routed.multilingual.p_forget(FOREIGN))
    assert np.allclose(routed.p_forget(FOREIGN), both)
    # MiniLM alone cannot read these; with e5's opinion the chemistry stands apart from the geography
    assert routed.english.p_forget(FOREIGN_CHEMISTRY).min() < 0.5
    chemistry, geography = routed.p_forget(FOREIGN_CHEMISTRY), routed.p_forget(FOREIGN_GEOGRAPHY)
    assert chemistry.min() > 0.7 > 0.5 > geography.max()


def test_many_routed_targets_share_one_pass_and_score_as_each_alone(routed, monkeypatch):
    targets = [Target(TargetManifest(name=f"t{i}"), routed) for i in range(3)]
    texts = ENGLISH + FOREIGN
    alone = routed.p_forget(texts)
    passes = []
    embed = routed.encoder.embed_prompts
    monkeypatch.setattr(routed.encoder, "embed_prompts", lambda t, **kw: passes.append(t) or embed(t, **kw))
    assert np.allclose(gate_scores(targets, texts), np.stack([alone] * 3))
    assert passes == [texts]


def test_a_routed_bundle_round_trips_and_a_broken_one_is_a_bundle_error(routed, tmp_path):
    routed.save(tmp_path)
    loaded = load_classifier(tmp_path)
    texts = ENGLISH + FOREIGN
    assert np.array_equal(loaded.p_forget(texts), routed.p_forget(texts))
    meta = json.loads((tmp_path / "classifier.json").read_text())
    meta["multilingual"]["backbone"] = "minilm"
    (tmp_path / "classifier.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="multilingual"):
        load_classifier(tmp_path)
    del meta["multilingual"]
    (tmp_path / "classifier.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="missing field"):
        load_classifier(tmp_path)


def test_the_finetune_kind_refuses_the_routed_backbone_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="embedding classifier only"):
        create_target("x", ["a"] * 10, ["b"] * 10, tmp_path / "x", classifier="finetune", backbone=ROUTED_BACKBONE)
    assert not (tmp_path / "x").exists()
