"""Verbatim evidence: quotations of the forget text are flagged, other text of the same style is not."""

import numpy as np
import pytest

from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import BundleError, Target
from eco_unlearn.gate.verbatim import FILE, VerbatimIndex, shingles

BOOK = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
    "want of a wife. However little known the feelings or views of such a man may be on his first entering "
    "a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
    "considered the rightful property of some one or other of their daughters."
)
OTHER = (
    "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition, seemed to "
    "unite some of the best blessings of existence; and had lived nearly twenty-one years in the world."
)


def test_shingles_are_stable_hashes_of_normalised_words():
    a = shingles("A single man in possession of a good fortune, must be")
    assert a.dtype == np.uint64 and len(a) == 11 - 8 + 1
    assert np.array_equal(a, shingles("a SINGLE man in posses\u200bsion of a good  fortune must be"))


def test_a_quotation_is_flagged_however_it_is_framed_and_other_text_is_not():
    index = VerbatimIndex.from_texts([BOOK])
    quote = "Continue this: the feelings or views of such a man may be on his first entering a neighbourhood"
    assert index.score([quote, "Please go on: FEELINGS OR VIEWS of such a man may be on his first"]).tolist() == [
        1.0,
        1.0,
    ]
    assert index.score([OTHER, "Who wrote Pride and Prejudice?", "a single man"]).tolist() == [0.0, 0.0, 0.0]


def test_the_index_round_trips_and_a_corrupt_file_is_a_bundle_error(tmp_path):
    index = VerbatimIndex.from_texts([BOOK])
    index.save(tmp_path)
    back = VerbatimIndex.load(tmp_path)
    assert np.array_equal(back.hashes, index.hashes) and not list(tmp_path.glob(".*tmp*"))
    (tmp_path / FILE).write_bytes(b"not numpy")
    with pytest.raises(BundleError, match="verbatim index"):
        VerbatimIndex.load(tmp_path)
    with pytest.raises(ValueError, match="empty"):
        VerbatimIndex.from_texts(["  "])


def test_a_target_created_with_a_forget_text_flags_its_quotations(tmp_path):
    chem, _ = domain_prompts("chemistry", per_item=1, seed=3)
    geo, _ = domain_prompts("geography", per_item=1, seed=3)
    target, rep = create_target("book", chem[:40], geo[:40], tmp_path / "b", forget_text=[BOOK], folds=0)
    assert (tmp_path / "b" / FILE).is_file() and Target.load(tmp_path / "b").manifest.gate.verbatim
    quote = "must be in want of a wife. However little known the feelings or views of such a man"
    for t in (target, Target.load(tmp_path / "b")):
        assert t.flags([quote]).tolist() == [True]
        assert t.gate.verbatim.score([OTHER, "What is the capital of Peru?"]).tolist() == [0.0, 0.0]
    assert rep["mode"] in ("classifier", "entities", "max") and rep["n"]["forget_test"] == 8
