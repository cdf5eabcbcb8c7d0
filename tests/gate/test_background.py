"""The built-in background negatives: broad, and disjoint from every set that measures false positives."""

import random
import re

import numpy as np

from eco_unlearn.evaluation.attacks import other_language
from eco_unlearn.evaluation.authors import make_splits
from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.evaluation.requests import EVERYDAY, REQUESTS, austen_request
from eco_unlearn.gate.background import NAMED, PEOPLE, background_prompts, far_from
from eco_unlearn.gate.create import general_prompts
from eco_unlearn.gate.normalise import normalise


def _norm(texts) -> set[str]:
    return {normalise(t).lower().strip() for t in texts}


def evaluation_sets() -> dict[str, list[str]]:
    chem = domain_prompts("chemistry", per_item=4, seed=0)
    geo = domain_prompts("geography", per_item=4, seed=0)
    splits = make_splits(n_authors=20)
    authors = [q.question for q in splits.qa + splits.held_out]
    gate_bench = [REQUESTS[name](seed=0) for name in ("authors", "hazard")] + [austen_request(passages=0)]
    return {
        "general (TOFU world facts + real authors)": general_prompts(),
        "everyday (eco bench gate)": EVERYDAY,
        "eco bench gate requests": [
            p.text
            for r in gate_bench
            for ps in (r.forget, r.retain, r.heldout_forget, r.heldout_neighbours)
            for p in ps
        ],
        "eco bench gate translations (other_language)": [
            other_language(p, random.Random(0)) for r in gate_bench for p in r.heldout_forget + r.heldout_neighbours
        ],
        "chemistry": chem[0] + chem[1],
        "geography": geo[0] + geo[1],
        "fictitious authors": authors,
    }


def test_background_is_broad_and_deterministic():
    b = background_prompts()
    assert len(b) >= 600 and len(set(b)) == len(b)
    assert background_prompts() == b
    kinds = {
        "?": sum(p.endswith("?") for p in b),
        "imperative": sum(p.split()[0] in ("Write", "Give", "Explain") for p in b),
    }
    assert kinds["?"] > 200 and kinds["imperative"] > 100


def test_background_is_disjoint_from_every_evaluation_set():
    bg = _norm(background_prompts())
    for name, prompts in evaluation_sets().items():
        assert bg.isdisjoint(_norm(prompts)), name


def test_background_names_never_appear_in_evaluation_sets():
    """Entity-disjoint too: no person or named thing the background asks about appears in an evaluation set."""
    text = " ".join(p for ps in evaluation_sets().values() for p in ps).lower()
    people = [p for p in PEOPLE if re.search(rf"\b({re.escape(p.lower())}|{re.escape(p.split()[-1].lower())})\b", text)]
    things = [
        x for xs in NAMED.values() for x in xs if re.search(rf"\b{re.escape(x.removeprefix('the ').lower())}\b", text)
    ]
    assert people == [] and things == []


def test_far_from_drops_candidates_close_to_an_anchor():
    rng = np.random.default_rng(0)
    anchors = rng.normal(size=(5, 16))
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    near = anchors[:2] + 0.05 * rng.normal(size=(2, 16))
    far = -anchors[2:4]
    cands = np.r_[near, far]
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    assert far_from(cands, anchors, max_cosine=0.9).tolist() == [False, False, True, True]
    assert far_from(cands, anchors[:0]).all()
