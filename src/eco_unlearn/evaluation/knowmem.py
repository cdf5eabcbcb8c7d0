"""MUSE's knowledge memorisation (KnowMem): can a model still answer questions about a corpus?

Verbatim memorisation (the copyright protocol's ROUGE against gold continuations) asks whether a model
reproduces the text; KnowMem asks whether it still *knows* what the text says. MUSE scores it as the
ROUGE-L recall of the model's greedy answer against the gold one, on the forget corpus's questions (lower is
more forgotten) and on the retain corpus's (to keep). Its prompt is few-shot: in-context question-answer
pairs of the same corpus ("Question: …\\nAnswer: …", a blank line between pairs), then the question; the
answer is cut where the model starts a new pair. The same prompt goes to every method, so ECO's gate sees
what a user of a few-shot harness would send. One deviation: MUSE ends the prompt with "Answer: ", and a
trailing space splits the answer's first word from its space on a BPE tokenizer (SmolLM2 then answers
"22" to "What is the capital of France?" instead of "Paris"), so the prompt here ends at "Answer:".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rouge_score.rouge_scorer import RougeScorer

from eco_unlearn.core.ecomodel import ECOModel

QA = tuple[str, str]
STOPS = ("\n\n", "\nQuestion", "Question:")
"""Where an answer ends: the model starting the next pair."""


def few_shot_prompt(question: str, icl: Sequence[QA] = ()) -> str:
    """The in-context pairs, then the question, as MUSE writes them (without the trailing space)."""
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in icl)
    return f"{shots}Question: {question}\nAnswer:"


def cut_answer(text: str) -> str:
    """The answer alone: the generation up to the first :data:`STOPS`, stripped."""
    for stop in STOPS:
        text = text.split(stop)[0]
    return text.strip()


def knowmem_scores(eco: ECOModel, qa: Sequence[QA], icl: Sequence[QA] = (), max_new_tokens: int = 32,
                   prefix: str = "") -> dict:  # fmt: skip
    """Mean ROUGE-L recall (stemmed) of ``eco``'s greedy answers to ``qa`` against the gold answers, and two
    example answers; ``prefix`` goes before the few-shot prompt (the prompting baseline's instruction)."""
    if not qa:
        raise ValueError("knowledge memorisation needs at least one question")
    prompts = [prefix + few_shot_prompt(q, icl) for q, _ in qa]
    answers = [cut_answer(g.text) for g in eco.generate(prompts, chat=False, max_new_tokens=max_new_tokens)]
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    recall = [scorer.score(gold, a)["rougeL"].recall for (_, gold), a in zip(qa, answers)]
    return {"rouge_l_recall": float(np.mean(recall)), "examples": answers[:2]}
