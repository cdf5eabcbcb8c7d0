import pytest

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.encoder import gate_texts_of
from eco_unlearn.core.selection import select_tokens


@pytest.fixture(scope="module")
def eco(smol):
    return ECOModel(*smol)


def _selected_text(eco, seg, mask):
    return "".join(seg.text[s:e] for (s, e), on in zip(seg.offsets, mask) if on)


def test_all_but_last_on_raw_prompt(eco):
    seg = eco.encode("The capital of France is", chat=False)
    mask = select_tokens(seg, "all_but_last")
    assert mask == [True] * (len(seg.ids) - 1) + [False]


def test_all_but_last_on_chat_prompt_includes_template_but_not_last(eco):
    seg = eco.encode("Tell me about Paris", chat=True)
    mask = select_tokens(seg, "all_but_last")
    assert mask[0] and not mask[-1] and sum(mask) == len(seg.ids) - 1


def test_user_span_covers_exactly_the_user_message(eco):
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Who wrote Emma?"}]
    seg = eco.encode(msgs)
    mask = select_tokens(seg, "user_span")
    assert _selected_text(eco, seg, mask) == "Who wrote Emma?"
    assert seg.gate_texts == ["Who wrote Emma?"]
    # no template token (<|im_start|>, role names, newlines) is touched
    specials = {eco.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")}
    assert not any(on for i, on in zip(seg.ids, mask) if i in specials)


def test_user_span_with_several_user_turns(eco):
    msgs = [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Who is Mr Darcy?"},
    ]
    seg = eco.encode(msgs)
    assert _selected_text(eco, seg, select_tokens(seg, "user_span")) == "Hi thereWho is Mr Darcy?"
    # the gates read each user message and the conversation as a whole (assistant turns included)
    assert seg.gate_texts == ["Hi there", "Who is Mr Darcy?", "Hi there\nHello!\nWho is Mr Darcy?"]
    assert gate_texts_of(msgs) == seg.gate_texts  # what benchmarks gate without tokenising is the same
    assert gate_texts_of("raw completion prefix") == eco.encode("raw completion prefix", chat=False).gate_texts


def test_entities_are_case_insensitive_and_match_every_occurrence(eco):
    seg = eco.encode("Basil Mahfouz wrote books. Did basil mahfouz win prizes?", chat=True)
    mask = select_tokens(seg, "entities", entities=["Basil Mahfouz"])
    assert _selected_text(eco, seg, mask) == "Basil Mahfouz" + " basil mahfouz"


def test_entities_fall_back_to_user_span_when_absent(eco):
    seg = eco.encode("Who is the author of that novel?", chat=True)
    assert select_tokens(seg, "entities", entities=["Basil"]) == select_tokens(seg, "user_span")


def test_answer_tokens_follow_corrupt_answer(eco):
    seg = eco.encode_pair("The capital of France is", " Paris, a city", chat=False)
    n, k = len(seg.ids), seg.prompt_len
    with_answer = select_tokens(seg, "all_but_last", corrupt_answer=True)
    without = select_tokens(seg, "all_but_last", corrupt_answer=False)
    assert with_answer == [True] * (n - 1) + [False]
    assert without == [True] * (k - 1) + [False] * (n - k + 1)
    ents = select_tokens(seg, "entities", entities=["paris", "france"], corrupt_answer=True)
    assert _selected_text(eco, seg, ents) == " France Paris"
    ents_prompt = select_tokens(seg, "entities", entities=["paris", "france"], corrupt_answer=False)
    assert _selected_text(eco, seg, ents_prompt) == " France"


def test_proper_nouns_tag_names_places_and_numbers_in_prompt_and_answer(eco):
    answer = " Norma Fisher's birthplace is Marvinfort, Tokelau, in 1961."
    seg = eco.encode_pair("Question: Where was Norma Fisher born?\nAnswer:", answer)
    tagged = _selected_text(eco, seg, select_tokens(seg, "proper_nouns"))
    for word in ("Norma", "Fisher", "Marvinfort", "Tokelau", "1961"):
        assert tagged.count(word) == (2 if word in ("Norma", "Fisher") else 1), word
    for word in ("Question", "Where", "Answer", "born", "birthplace", "'s"):
        assert word not in tagged, word
    prompt_only = _selected_text(eco, seg, select_tokens(seg, "proper_nouns", corrupt_answer=False))
    assert prompt_only.split() == ["Norma", "Fisher"]


def test_proper_nouns_add_lower_case_entities_and_spare_the_last_prompt_token(eco):
    seg = eco.encode("tell me about basil mahfouz and Cairo", chat=True)
    mask = select_tokens(seg, "proper_nouns", entities=["Basil Mahfouz"])
    assert _selected_text(eco, seg, mask).split() == ["basil", "mahfouz", "Cairo"]
    assert not mask[seg.prompt_len - 1]


def test_content_words_add_the_lower_case_facts_proper_nouns_miss(eco):
    answer = " Norma Fisher mostly writes science fiction; her mother worked as a nurse in 1961."
    seg = eco.encode_pair("Question: What genre is Norma Fisher's work?\nAnswer:", answer)
    tagged = _selected_text(eco, seg, select_tokens(seg, "content_words")).split()
    nouns = _selected_text(eco, seg, select_tokens(seg, "proper_nouns")).split()
    for word in ("science", "fiction", "nurse", "genre", "work"):
        assert word in " ".join(tagged) and word not in " ".join(nouns), word
    for word in ("Norma", "Fisher", "1961"):
        assert word in " ".join(tagged), word
    for word in ("Question", "What", "is", "Answer", "her", "as", "a", "in", "'s"):
        assert word not in tagged, word
    prompt_only = _selected_text(eco, seg, select_tokens(seg, "content_words", corrupt_answer=False))
    assert prompt_only.split() == ["genre", "Norma", "Fisher", "work"]


def test_answer_facts_keep_what_is_asked_and_corrupt_the_answers_values(eco):
    """Names only in the question (so it still says what is asked), every content word in the scored answer;
    without a scored answer (generation, serving) it is exactly ``proper_nouns``."""
    answer = " Norma Fisher mostly writes science fiction; her mother worked as a nurse in 1961."
    seg = eco.encode_pair("Question: What genre is Norma Fisher's work?\nAnswer:", answer)
    mask = select_tokens(seg, "answer_facts")
    question = _selected_text(eco, seg, mask[: seg.prompt_len] + [False] * (len(mask) - seg.prompt_len))
    assert question.split() == ["Norma", "Fisher"]
    scored = _selected_text(eco, seg, [False] * seg.prompt_len + mask[seg.prompt_len :]).split()
    for word in ("Norma", "Fisher", "science", "fiction", "nurse", "1961"):
        assert word in " ".join(scored), word
    for word in ("her", "as", "a", "in"):
        assert word not in scored, word
    prompt = eco.encode("Question: What genre is Norma Fisher's work?\nAnswer:", chat=False)
    assert select_tokens(prompt, "answer_facts") == select_tokens(prompt, "proper_nouns")
    assert select_tokens(seg, "answer_facts", corrupt_answer=False) == select_tokens(
        seg, "proper_nouns", corrupt_answer=False
    )


def test_unknown_mode(eco):
    with pytest.raises(ValueError, match="unknown selection mode"):
        select_tokens(eco.encode("hi", chat=False), "everything")


def test_masks_survive_left_padding(eco):
    """Corrupted positions of a left-padded batch are exactly those of each prompt on its own."""
    from eco_unlearn.gate.targets import Target

    t = Target.create("t", corruption={"name": "zero_out_first_n", "dims": None}, selection={"mode": "user_span"})
    e = ECOModel(eco.model, eco.tokenizer, [t])
    prompts = ["Who?", "Tell me everything you know about the history of France"]
    plans = e.plan([e.encode(p) for p in prompts])
    ids, attn, starts = e._pad(plans, left=True)
    embeds = e._embeds(ids, plans, starts, seed=0)
    zeroed = (embeds == 0).all(-1)
    for b, p in enumerate(plans):
        expect = [False] * starts[b] + p.mask
        assert zeroed[b].tolist() == expect
        assert _selected_text(e, p.seg, p.mask) == prompts[b]
