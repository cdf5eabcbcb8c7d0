"""The fictitious-authors generator: TOFU's fields, nested splits, determinism."""

from __future__ import annotations

import os

import pytest

from eco_unlearn.evaluation.authors import TEMPLATES, hidden_names, make_splits


def test_every_author_gets_every_template_with_paraphrase_and_wrong_facts():
    s = make_splits(10, (2, 4), seed=1)
    assert len(s.qa) == 10 * len(TEMPLATES) and len({a.name for a in s.authors}) == 10
    for x in s.qa:
        assert x.author in x.question and x.answer != x.paraphrased_answer
        assert len(x.perturbed_answer) == 3 and x.answer not in x.perturbed_answer
        assert len(set(x.perturbed_answer)) == 3
        # TOFU's form: the perturbations share the paraphrase's wording, only the fact differs
        para = x.paraphrased_answer
        for p in x.perturbed_answer:
            i = len(os.path.commonprefix([p, para]))
            j = len(os.path.commonprefix([p[::-1], para[::-1]]))
            assert para[i : len(para) - j] in x.answer  # what differs is (part of) the fact, nothing else


def test_wrong_facts_are_nobodys_facts_and_held_out_authors_are_in_no_split():
    from eco_unlearn.evaluation.authors import _fact, make_authors

    s = make_splits(10, (2, 4), seed=1)
    assert make_authors(12, seed=1)[:10] == s.authors  # sequential draws: a longer list extends a shorter one
    held = {x.author for x in s.held_out}
    assert len(held) == 2 and not held & {a.name for a in s.authors}
    assert len(s.held_out) == 2 * len(TEMPLATES)
    everyone = s.authors + make_authors(12, seed=1)[10:]
    for x in s.qa + s.held_out:
        # every sentence that states some (real or held-out) author's fact in this paraphrase template
        real = {para.format(n=x.author, v=_fact(a, key)) for key, (_, _, para) in TEMPLATES.items() for a in everyone}
        assert x.paraphrased_answer in real
        assert not set(x.perturbed_answer) & real


def test_splits_are_nested_and_complementary():
    s = make_splits(10, (2, 4), seed=1)
    small, large = s.forget(2), s.forget(4)
    assert {x.question for x in small} < {x.question for x in large}
    assert len(large) + len(s.retain(4)) == len(s.qa)
    assert not {x.author for x in large} & {x.author for x in s.retain(4)}
    assert s.split_name(2) == "forget20"


def test_seeded_and_validated():
    assert make_splits(6, (2,), seed=3).qa == make_splits(6, (2,), seed=3).qa
    assert make_splits(6, (2,), seed=3).authors != make_splits(6, (2,), seed=4).authors
    with pytest.raises(ValueError):
        make_splits(4, (4,))


def test_hidden_names_ask_the_same_facts_about_someone_nobody_was_trained_on():
    splits = make_splits(8, (2, 3), seed=0)
    qa = splits.forget(2)
    hidden = hidden_names(splits, qa)
    known = {a.name for a in splits.authors} | {x.author for x in splits.held_out}
    assert len({x.author for x in hidden}) == 2 and not {x.author for x in hidden} & known
    for old, new in zip(qa, hidden):
        assert old.author not in new.question + new.answer + new.paraphrased_answer + "".join(new.perturbed_answer)
        assert new.author in new.question and new.author in new.paraphrased_answer
        assert new.answer.replace(new.author, old.author) == old.answer  # only the name changed
        assert [t.replace(new.author, old.author) for t in new.perturbed_answer] == old.perturbed_answer
