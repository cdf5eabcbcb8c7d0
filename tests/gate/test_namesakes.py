"""Namesake negatives: the forget prompts asked about someone else with the same first name or title."""

from faker.providers.person.en_US import Provider as American

from eco_unlearn.gate.classifier import train_classifier
from eco_unlearn.gate.namesakes import family_start, namesake_negatives, training_surnames

CURIE = [f"{q} Marie Curie{end}" for q in ("Who was", "Where was", "What did", "Tell me about", "Why is", "How did")
         for end in ("?", " and her work?")]  # fmt: skip
SCIENTISTS = [f"{q} {n}?" for q in ("Who was", "Where was", "What did", "Tell me about", "Why is", "How did")
              for n in ("Albert Einstein", "Isaac Newton", "Rosalind Franklin", "Niels Bohr")]  # fmt: skip


def test_a_namesake_keeps_the_first_name_or_title_and_swaps_the_family_name():
    names = ["Marie Curie", "Mr Darcy", "Lady Catherine de Bourgh", "Lady Catherine", "Bennet"]
    prompts = ["Who was Marie Curie?", "Is Mr Darcy rich?", "Where does Lady Catherine de Bourgh live?",
               "Did Marie Curie meet Mr Darcy?", "What is radium?"]  # fmt: skip
    marie, mister = namesake_negatives(prompts, names, seed=0)
    assert marie.startswith("Who was Marie ") and "Curie" not in marie
    assert mister.startswith("Is Mr ") and "Darcy" not in mister
    assert {marie.split()[-1].strip("?"), mister.split()[2]} <= set(training_surnames())
    # none from a prompt naming two forget names or none; and "Lady Catherine Kraus" would still name her by
    # the run "Lady Catherine", a name of the target: a copy that still names the target is no namesake
    (lady,) = namesake_negatives(prompts[2:3], ["Lady Catherine de Bourgh"])
    assert lady.startswith("Where does Lady Catherine ") and lady.endswith(" live?") and "Bourgh" not in lady
    assert family_start("Lady Catherine de Bourgh".split()) == 2 and family_start(["Marie", "Curie"]) == 1


def test_training_surnames_are_never_the_ones_the_bench_scores_namesakes_with():
    """``eco bench gate`` draws namesakes from Faker's US surnames (``evaluation.attacks.namesake``)."""
    assert len(training_surnames()) > 500
    assert set(training_surnames()).isdisjoint(American.last_names)


def test_namesake_negatives_teach_a_topic_classifier_that_a_first_name_is_not_the_target():
    """Found trying a request to forget Marie Curie: a classifier trained against other scientists learned
    "Marie" as well as "Curie" and flagged "Who was Marie Antoinette?"."""
    probe = ["Who was Marie Antoinette?", "What did Marie Antoinette say?", "Where was Marie Curie born?"]
    kw = {"background": [], "backbone": "minilm", "seed": 0}
    plain, _ = train_classifier("embedding", CURIE, SCIENTISTS, **kw)
    taught, _ = train_classifier("embedding", CURIE, SCIENTISTS + namesake_negatives(CURIE, ["Marie Curie"]), **kw)
    before, after = plain.p_forget(probe), taught.p_forget(probe)
    assert before[:2].min() > 0.5 > after[:2].max()  # the namesakes pass only once the classifier is taught
    assert after[2] > 0.5  # the target itself is still in scope
