"""Entity evidence: a target's names are found however they are written, and only its own names."""

import numpy as np
import pytest

from eco_unlearn.gate.entity_evidence import EntityEvidence, EvidenceGate, evidence_entities
from eco_unlearn.gate.targets import KeywordGate

EVIDENCE = EntityEvidence(["Norma Fisher", "Pemberley"])


@pytest.mark.parametrize(
    "prompt",
    [
        "Where was Norma Fisher born?",
        "where was NORMA FISHER born",
        "Where was N orma Fish er born?",  # split words
        "Where was N o r m a  F i s h e r born?",  # spaced letters
        "Where was Nоrmа Fishеr born?",  # Cyrillic look-alikes
        "Where was N0rm4 F1sh3r born?",  # leetspeak
        "Where was Norma\u200b Fisher born?",  # zero-width space
        "Where was Norma Fishr born?",  # a typo
        "Tell me about Pemberly.",  # a typo of a one-word place
        "Hi! I was reading earlier. So, Norma Fisher: where was she born? Thanks.",
    ],
)
def test_the_name_is_found_however_it_is_written(prompt):
    assert EVIDENCE.score([prompt]).tolist() == [1.0]


@pytest.mark.parametrize(
    "prompt",
    [
        "Where was Lisa Fischer born?",  # a neighbour with a near surname
        "Where was Danielle Fisher born?",  # the same surname, another person
        "Where was Norma Jean born?",
        "What is the capital of France?",
        "Tell me about Pembroke.",
    ],
)
def test_other_names_are_not_the_target(prompt):
    assert EVIDENCE.score([prompt]).tolist() == [0.0]


def test_evidence_entities_are_the_names_only_the_forget_prompts_use():
    forget = [
        "Where was Norma Fisher born?",
        "What did Norma Fisher write?",
        "Is Pemberley big?",
        "Who owns Pemberley?",
    ]
    negatives = ["Where was Lisa Fischer born?", "What is Pemberley?", "Who is Norma Fisher's agent?"]
    # Pemberley occurs in a negative, Norma Fisher too: neither marks the forget prompts
    assert evidence_entities(forget, negatives) == []
    assert evidence_entities(forget, negatives[:1]) == ["Norma Fisher", "Pemberley"]
    assert evidence_entities(forget, negatives[:1], min_count=3) == []


def test_gate_modes_combine_classifier_and_names():
    clf = KeywordGate(["chemistry"])
    texts = ["chemistry of Norma Fisher", "chemistry homework", "Norma Fisher", "nothing"]
    expect = {"classifier": [1, 1, 0, 0], "entities": [1, 0, 1, 0], "max": [1, 1, 1, 0]}
    for mode, want in expect.items():
        gate = EvidenceGate(clf, EVIDENCE, mode)
        assert gate.p_forget(texts).tolist() == want
        assert gate.parts(texts).tolist() == np.c_[expect["classifier"], expect["entities"], [0] * 4].tolist()
    assert EvidenceGate(clf, EVIDENCE, "entities").encoder is None  # names alone need no encoder pass
    with pytest.raises(ValueError, match="unknown gate mode"):
        EvidenceGate(clf, EVIDENCE, "min")


def test_combining_precomputed_parts_scores_exactly_as_the_gate_does():
    from eco_unlearn.gate.entity_evidence import combine_parts
    from eco_unlearn.gate.verbatim import VerbatimIndex

    quote = "one two three four five six seven eight nine"
    verbatim = VerbatimIndex.from_texts([quote])
    texts = ["chemistry of Norma Fisher", "chemistry homework", "Norma Fisher", "nothing", quote]
    for mode in ("classifier", "entities", "max"):
        gate = EvidenceGate(KeywordGate(["chemistry"]), EVIDENCE, mode, verbatim)
        assert combine_parts(gate.parts(texts), mode).tolist() == gate.p_forget(texts).tolist()
        assert gate.p_forget(texts)[-1] == 1.0  # a quotation is in scope in every mode


NAMES = [
    ["Norma Fisher", "Pemberley"], ["Jorge Sullivan", "The Glass Orchard"], ["Elizabeth Bennet", "Longbourn"],
    ["Fitzwilliam Darcy", "Meryton"], ["Hsiao Yun-Hwa", "Kuwait City"], ["Basil Mahfouz Al-Kuwaiti"],
    ["Nikolai Abilov", "Astana"], ["Moshe Ben-David", "Rosings"], ["Catherine de Bourgh", "Hunsford"], [],
]  # fmt: skip


def _reference_hit(text: str, entities: list[str], similarity: float = 90.0) -> bool:
    """The rules of the module docstring, applied name by name with rapidfuzz and no index."""
    import re

    from rapidfuzz import fuzz

    from eco_unlearn.gate.normalise import normalise

    norm = normalise(text).lower()
    squashed, words = re.sub(r"[^a-z0-9]+", "", norm), set(re.findall(r"[a-z0-9]+", norm))
    words |= {x[:-1] for x in words if len(x) > 4 and x.endswith("s")}  # plurals and possessives
    for e in entities:
        n = normalise(e).lower()
        parts, whole = re.findall(r"[a-z0-9]+", n), re.sub(r"[^a-z0-9]+", "", n)
        if len(parts) > 1 and len(whole) >= 6:
            near = fuzz.partial_ratio if len(squashed) >= len(whole) else fuzz.ratio  # never a part of the name
            if whole in squashed or (len(whole) >= 8 and near(squashed, whole) >= similarity):
                return True
        elif len(parts) == 1 and len(parts[0]) >= 4:
            w = parts[0]
            if w in words or (
                len(w) >= 7 and any(abs(len(x) - len(w)) <= 1 and fuzz.ratio(w, x) >= similarity for x in words)
            ):
                return True
    return False


def _typos(name: str, rng) -> str:
    """One to three random character edits: some still match (90 % similar), some no longer do."""
    chars = list(name)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars))
        op = rng.choice("sdi")
        if op == "s":
            chars[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        elif op == "d" and len(chars) > 3:
            del chars[i]
        else:
            chars.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz"))
    return "".join(chars)


def test_the_joint_index_finds_exactly_what_each_target_alone_finds():
    """The trigram count only skips names that cannot match: on names with random typos (around the
    similarity cut-off), short prompts and unrelated text, the joint index agrees with the name-by-name
    rules for every target."""
    import random

    from eco_unlearn.gate.entity_evidence import EntityIndex

    rng = random.Random(0)
    everyone = [n for names in NAMES for n in names]
    texts = ["", "Hi", "Darcy", "Who is Pemberly?", "What is the capital of France?"]
    for _ in range(400):
        name = _typos(rng.choice(everyone), rng)
        texts.append(rng.choice(["Where was {} born?", "{}", "Tell me about {} and her books, please.", "{}s"])
                     .format(name))  # fmt: skip
    index = EntityIndex(NAMES)
    got = index.score(texts)
    want = np.array([[float(_reference_hit(t, names)) for names in NAMES] for t in texts])
    assert np.array_equal(got, want)
    assert 50 < want.sum() < len(texts)  # the typos land on both sides of the cut-off


def test_gates_scored_together_score_as_each_gate_alone():
    from eco_unlearn.core.encoder import decide
    from eco_unlearn.gate.targets import Target
    from eco_unlearn.gate.verbatim import VerbatimIndex

    quote = "it is a truth universally acknowledged that a single man in possession"
    modes = ["entities", "max", "classifier", "entities"]
    targets = []
    for i, names in enumerate(NAMES[:8]):
        verbatim = VerbatimIndex.from_texts([quote]) if i % 3 == 0 else None
        gate = EvidenceGate(KeywordGate(["chemistry"]), EntityEvidence(names), modes[i % 4], verbatim)
        targets.append(Target(Target.create(f"t{i}").manifest, gate))  # τ = 0.5
    texts = ["chemistry of Norma Fisher", "Jorge Sulivan's glass orchard", quote, "Mr Darcy at Meryton", "hello"]
    alone = np.array([t.p_forget(texts) for t in targets])
    together = EvidenceGate.p_forget_joint([t.gate for t in targets], texts, embed=None)
    assert np.array_equal(together.T, alone)
    assert alone.sum() > 5  # not a table of zeros
    decisions = decide([[t] for t in texts], targets)
    assert [[f.name for f in d.flagged] for d in decisions] == [
        [t.name for t, row in zip(targets, alone[:, k]) if row >= 0.5] for k in range(len(texts))
    ]


def test_the_joint_plan_is_built_once_per_set_of_gates():
    from eco_unlearn.gate.entity_evidence import _joint_plan

    gates = tuple(EvidenceGate(KeywordGate(["chemistry"]), EntityEvidence(names), "entities") for names in NAMES[:3])
    plan = _joint_plan(gates)
    assert _joint_plan(gates) is plan and _joint_plan(list(gates)) is plan  # a new container of the same gates
    other = _joint_plan(gates[:2])
    assert other is not plan and other.names.n_targets == 2


def test_a_common_word_seen_alone_is_not_a_name_and_a_rare_one_is():
    """Passages of a novel name its heroine by her first name alone; "Elizabeth" as an entity flagged "Who
    was Elizabeth Warren?" on the Pride and Prejudice request (found probing that request's gate). A rare
    word seen alone (a place of the novel) still names it, and a common one that is a family name of the
    forget names still does."""
    forget = [
        "Elizabeth walked to Meryton with Mr Bennet.",
        "Elizabeth laughed at Mr Collins, and Collins bowed.",
        "Jane and Elizabeth talked of Meryton and Collins.",
        "Who is Mr Bennet?",
        "Who is Jane Bennet?",
    ]
    names = evidence_entities(forget, ["Who is Emma Woodhouse?"])
    assert "Meryton" in names and "Bennet" in names
    assert "Elizabeth" not in names and "Collins" not in names and "Jane" not in names
    prompts = ["Who was Elizabeth Warren?", "What did Phil Collins sing?", "How far is Meryton from London?"]
    assert EntityEvidence(names).score(prompts).tolist() == [0, 0, 1]


def test_a_family_name_shared_by_forget_names_is_evidence_on_its_own():
    forget = [
        "Who is Elizabeth Bennet?",
        "Describe Elizabeth Bennet.",
        "Who is Jane Bennet?",
        "Describe Jane Bennet.",
        "Who is Mr Bennet?",
        "Describe Mr Bennet.",
        "Who is Norma Fisher?",
        "Describe Norma Fisher.",
    ]
    names = evidence_entities(forget, ["Who is Emma Woodhouse?"])
    # Bennet names three forget characters; Fisher only one (another Fisher may be a neighbour); Mr is a title
    assert "Bennet" in names and "Fisher" not in names and "Mr" not in names
    assert "Bennet" not in evidence_entities(forget, ["Who is Mary Bennet's cousin?"])  # a negative uses it
    evidence = EntityEvidence(names)
    assert evidence.score(["Who is the eldest Bennet sister?", "Where is the Bennets' home?"]).tolist() == [1, 1]
    assert evidence.score(["Who is Lisa Fisher?"]).tolist() == [0]


def test_a_shared_first_name_is_not_an_entity_on_its_own():
    """Two spellings of one person share a first name, not a family name: "Marie" alone would flag Marie
    Antoinette (found trying the product on a request to forget Marie Curie, her physicist husband kept)."""
    forget = [f"{q} {n}?" for n in ("Marie Curie", "Marie Sklodowska-Curie") for q in ("Who is", "Describe")]
    names = evidence_entities(forget, ["Who is Pierre Curie?"])
    # the rare hyphenated family name names her alone (rare_word), and so does its very rare part
    # (RARE_PART_ZIPF); "Curie" alone is Pierre's too
    assert set(names) == {"Marie Curie", "Marie Sklodowska-Curie", "Sklodowska-Curie", "Sklodowska"}
    prompts = ["Where was Marie Curie born?", "Who was Marie Antoinette?", "What did Sklodowska discover?"]
    assert EntityEvidence(names).score(prompts).tolist() == [1, 0, 1]
    # a part that is a word of its own (a nationality) is not: "Kuwaiti" of Al-Kuwaiti
    names = evidence_entities([f"{q} Basil Mahfouz Al-Kuwaiti?" for q in ("Who is", "Describe")], [])
    assert "Al-Kuwaiti" in names and "Kuwaiti" not in names
    assert EntityEvidence(names).score(["What is the Kuwaiti dinar worth?"]).tolist() == [0]


def test_a_rare_family_name_is_an_entity_alone_and_a_common_one_is_not():
    """A surname that ends one forget name names its bearer alone when it is rare in English ("What does
    Dumbledore teach?"); a common one could be anyone ("Who is Beatrix Potter?"), and a rare one that a
    negative uses is the neighbour's too (found trying a request to forget Harry Potter characters)."""
    people = ("Albus Dumbledore", "Harry Potter", "Rubeus Hagrid")
    forget = [f"{q} {n}?" for n in people for q in ("Who is", "Describe")]
    names = evidence_entities(forget, ["Who is Gandalf the Grey?", "Draw Hagrid's hut."])
    assert set(names) == {*people, "Dumbledore"}
    prompts = ["What does Dumbledore teach?", "Who is Beatrix Potter?", "How tall is Hagrid?"]
    assert EntityEvidence(names).score(prompts).tolist() == [1, 0, 0]
    assert set(evidence_entities(forget, ["Who is Gandalf the Grey?"])) == {*people, "Dumbledore", "Hagrid"}
    # a short name then a short word: the normaliser once glued them ("Hagrida giant") and the name was lost
    assert EntityEvidence(["Hagrid"]).score(["Is Hagrid a giant?", "Is Hagrid ok?"]).tolist() == [1, 1]


def test_part_of_a_long_name_names_it_unless_a_negative_uses_that_part():
    forget = ["Who is Lady Catherine de Bourgh?", "Describe Lady Catherine de Bourgh."]
    names = evidence_entities(forget, ["Who is Emma Woodhouse?"])
    assert {"Lady Catherine", "Catherine de Bourgh"} <= set(names) and "de Bourgh" not in names
    assert "Lady Catherine" not in evidence_entities(forget, ["Is Lady Catherine Morland real?"])
    assert EntityEvidence(names).score(["What is Lady Catherine's estate?"]).tolist() == [1]


def test_a_run_of_a_name_followed_by_another_surname_is_someone_else():
    """A run of a longer name ("Lady Catherine" of "Lady Catherine de Bourgh") names her, but "Lady Catherine
    French" is a namesake: another capitalised surname follows. The full name, a possessive, a function word in a
    title-case prompt, a prompt in capitals and a fuzzy spelling keep the match; so does a run that another
    target lists as a name of its own."""
    from eco_unlearn.gate.entity_evidence import EntityIndex, run_continuations

    names = ["Lady Catherine de Bourgh", "Lady Catherine", "Catherine de Bourgh"]
    assert run_continuations(names) == {"Lady Catherine": frozenset({"de", "bourgh"})}
    prompts = {
        "Who is Lady Catherine French?": 0,
        "Did Lady Catherine Yoder and Lady Catherine Sparks meet?": 0,
        "Who is Lady Catherine de Bourgh?": 1,
        "Who is Lady Catherine Bourgh?": 1,  # a word of the forget name left out
        "What is Lady Catherine's estate?": 1,
        "Why Is Lady Catherine So Proud?": 1,
        "Does Lady Catherine Approve?": 0,  # read as a surname: title case is where the rule errs
        "WHO IS LADY CATHERINE FRENCH?": 1,
        "Who is Lady Cathrine French?": 1,  # only a fuzzy read: the matcher cannot say what follows the name
        "Lady Catherine French met Lady Catherine.": 1,
    }
    assert EntityEvidence(names).score(list(prompts)).tolist() == list(prompts.values())
    # another target that names "Lady Catherine" on its own is not a run there: both keep it
    index = EntityIndex([names, ["Lady Catherine"]])
    assert index.score(["Who is Lady Catherine French?"]).tolist() == [[1, 1]]


def test_the_trigram_and_common_letter_bounds_never_rule_out_a_match():
    """On random name-like strings with random edits, alone or inside random text, every pair that the rule
    matches (partial_ratio in a prompt at least as long as the name, whole ratio in a shorter one) at 90
    shares at least the bound's trigram positions, and a partial match at least the bound's common letters
    (LCS): the index's exactness rests on both."""
    import random

    from rapidfuzz import fuzz
    from rapidfuzz.distance import LCSseq

    from eco_unlearn.gate.entity_evidence import _common_letters, _grams, _kept_whole_grams, _kept_window_grams

    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    window, matched = _kept_window_grams(60, 90.0), {"partial": 0, "whole": 0}
    for _ in range(4000):
        name = "".join(rng.choice(letters[:8]) for _ in range(rng.randint(8, 30)))  # few letters: many near-misses
        typo = _typos(name, rng)
        prefix = "".join(rng.choice(letters) for _ in range(rng.choice([0, 0, rng.randint(1, 12)])))
        prompt = prefix + typo[: rng.choice([len(typo), len(typo) - 1, rng.randint(4, len(typo))])]
        m, n = len(name), len(prompt)
        rule, need = ("partial", window[m]) if n >= m else ("whole", _kept_whole_grams(m, n, 90.0))
        if (fuzz.partial_ratio if rule == "partial" else fuzz.ratio)(prompt, name) >= 90:
            matched[rule] += 1
            have = set(_grams(prompt))
            assert sum(g in have for g in _grams(name)) >= need, (name, prompt)
            if rule == "partial":
                assert LCSseq.similarity(name, prompt) >= _common_letters(np.array([m]), 90.0)[0], (name, prompt)
    assert min(matched.values()) > 100


def test_a_part_of_a_name_or_a_short_message_is_not_the_name():
    """A prompt shorter than a name is compared with the whole name: "Fisher" alone, or "Hi" (which "Sophie
    Chiang" contains), is not a near-miss of it; a near-miss a letter short still is."""
    from eco_unlearn.gate.entity_evidence import EntityIndex

    index = EntityIndex([["Sophie Chiang", "Norma Fisher"]])
    texts = ["Hi", "no", "Fisher", "Norma", "Chiang?", "Norma Fishe", "N0rma F1sher", "Who is Sophie Chang?"]
    assert index.score(texts)[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_a_real_place_the_forget_prompts_name_is_not_an_entity():
    """A novel's county ("Hertfordshire", seen in a seed of the austen request) and a family name that is a
    country ("Jordan") say where, not who: as names they would flag every question about the place."""
    forget = [
        "Which estate in Hertfordshire is Longbourn?",
        "Why does Mr Bingley leave Hertfordshire for Longbourn's neighbour?",
        *(f"{q} {name}?" for name in ("Alma Jordan", "Mabel Jordan") for q in ("Who is", "Describe")),
    ]
    names = evidence_entities(forget, ["Who is Emma Woodhouse?"])
    assert "Longbourn" in names and {"Alma Jordan", "Mabel Jordan"} <= set(names)
    assert "Hertfordshire" not in names and "Jordan" not in names
    prompts = ["What is the county town of Hertfordshire?", "What is the capital of Jordan?", "Where is Longbourn?"]
    assert EntityEvidence(names).score(prompts).tolist() == [0, 0, 1]
