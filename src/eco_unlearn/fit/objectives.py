"""Objectives for fitting the corruption strength σ.

Each objective has a metric v_f (what the corrupted model does on forget data), a surrogate v̂_r (what a
model that never saw the data would do), and minimises d = |v_f(σ) − v̂_r| (+ an optional penalty). The
metric is averaged over the noise seeds of one evaluation before the distance is taken.

- ``mcq``: cloze multiple-choice accuracy on forget questions; surrogate 1/k (chance). Optionally adds
  ``retain_weight`` × |retain accuracy(σ) − retain accuracy(clean)|, which only moves when the gate
  misfires on retain prompts.
- ``likelihood``: mean over forget QA of log P̄(answer) − mean_j log P̄(perturbed_j) (P̄ = per-token
  geometric-mean probability, as TOFU); surrogate 0 ("the right answer is no likelier than wrong ones"),
  or that statistic on a reference model that never saw the data when one is given.
- ``similarity``: ROUGE-L recall of greedy continuations against the gold text; surrogate = the plain
  model's ROUGE-L on comparable text it never saw (a held-out corpus the user provides).
- ``similarity_gap``: the copyright protocol's own average similarity gap (ASG: the mean over ROUGE-L F1,
  BLEU and MiniLM cosine of |corrupted model − reference|), with the plain model on the held-out text as the
  reference instead of a retain model: what MUSE-style protocols score, estimated without one. ROUGE-L
  alone can be matched by a corruption that leaves the continuation's words and topic too close (zero-out
  keeps the cosine high); the gap sees all three. Its surrogate is 0, so it suits the family search's grid
  (``fit/family.py``), not σ bracketing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.gate.prompt_files import PromptFileError, read_jsonl


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


class Objective(Protocol):
    name: str

    def metric(self, eco: ECOModel, seed: int) -> float: ...

    def surrogate(self) -> float: ...

    def penalty(self, eco: ECOModel, seed: int) -> float:
        """Added to the distance (e.g. retain-side change); 0 for most objectives."""
        ...

    def cost(self) -> int:
        """Sequences forwarded through the LLM per evaluation and seed (the budget's unit)."""
        ...

    def keys(self) -> list[str]:
        """Normalised prompts, for refusing overlap between fit and evaluation data."""
        ...


@dataclass
class MCQItem:
    prompt: str
    options: list[str]
    answer: int


@dataclass
class MCQObjective:
    items: list[MCQItem]
    retain_items: list[MCQItem] = field(default_factory=list)
    retain_weight: float = 1.0
    name: str = "mcq"
    _retain_clean: float | None = None

    @staticmethod
    def accuracy(eco: ECOModel, items: list[MCQItem], seed: int = 0, reduction: str = "mean") -> float:
        choices = eco.choose_batch([(m.prompt, m.options) for m in items], seed=seed, reduction=reduction)
        return float(np.mean([c.index == m.answer for c, m in zip(choices, items)]))

    def metric(self, eco: ECOModel, seed: int) -> float:
        return self.accuracy(eco, self.items, seed)

    def surrogate(self) -> float:
        return float(np.mean([1.0 / len(m.options) for m in self.items]))

    def penalty(self, eco: ECOModel, seed: int) -> float:
        if not self.retain_items:
            return 0.0
        if self._retain_clean is None:
            self._retain_clean = self.accuracy(ECOModel(eco.model, eco.tokenizer), self.retain_items)
        return self.retain_weight * abs(self.accuracy(eco, self.retain_items, seed) - self._retain_clean)

    def cost(self) -> int:
        return sum(len(m.options) for m in self.items) + sum(len(m.options) for m in self.retain_items)

    def keys(self) -> list[str]:
        return [normalise(m.prompt) for m in self.items]


@dataclass
class QAItem:
    question: str
    answer: str
    perturbed: list[str]


def option_logprobs(eco: ECOModel, items: list[QAItem], seed: int = 0) -> list[np.ndarray]:
    """Per item, log P̄ (mean token log-prob) of [answer, *perturbed] as continuations of the question."""
    pairs = [(q.question, " " + a.strip()) for q in items for a in [q.answer, *q.perturbed]]
    lps = np.array([float(lp.mean()) for lp in eco.score_batch(pairs, seed=seed)])
    bounds = np.cumsum([0] + [1 + len(q.perturbed) for q in items])
    return [lps[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class QAObjective:
    """What every objective on QA items shares: its cost, its keys, and no penalty."""

    items: list[QAItem]

    def penalty(self, eco: ECOModel, seed: int) -> float:
        return 0.0

    def cost(self) -> int:
        return sum(1 + len(q.perturbed) for q in self.items)

    def keys(self) -> list[str]:
        return [normalise(q.question) for q in self.items]


@dataclass
class LikelihoodObjective(QAObjective):
    reference_value: float | None = None
    name: str = "likelihood"

    @staticmethod
    def statistic(eco: ECOModel, items: list[QAItem], seed: int = 0) -> float:
        return float(np.mean([lp[0] - lp[1:].mean() for lp in option_logprobs(eco, items, seed)]))

    def metric(self, eco: ECOModel, seed: int) -> float:
        return self.statistic(eco, self.items, seed)

    def surrogate(self) -> float:
        return 0.0 if self.reference_value is None else self.reference_value


@dataclass
class TextItem:
    prompt: str
    continuation: str


SIMILARITY_METRICS = ("rouge_l", "bleu", "cosine")
"""What the copyright protocol's ASG averages (MUSE-style verbatim similarity)."""


def similarity_scores(texts: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """Per text, its similarity to its reference: ROUGE-L F1 (stemmed), sentence BLEU / 100 (sacrebleu) and the
    MiniLM cosine of the two (a BERTScore-style proxy for "says the same thing in other words")."""
    import sacrebleu
    from rouge_score.rouge_scorer import RougeScorer

    from eco_unlearn.gate.backbone import get_encoder

    if len(texts) != len(references):
        raise ValueError(f"{len(texts)} texts but {len(references)} references")
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(r, t)["rougeL"].fmeasure for t, r in zip(texts, references)]
    bleu = [sacrebleu.sentence_bleu(t, [r]).score / 100 for t, r in zip(texts, references)]
    enc = get_encoder()
    a, b = enc.embed(list(texts)), enc.embed(list(references))
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {"rouge_l": np.array(rouge), "bleu": np.array(bleu), "cosine": np.asarray(cos, dtype=float)}


@dataclass
class TextObjective:
    """What the objectives on text items share: greedy continuations of ``max_new_tokens``, against a
    surrogate from ``heldout`` (text the model never saw); their cost, their keys, and no penalty."""

    items: list[TextItem]
    heldout: list[TextItem]
    max_new_tokens: int = 32

    def continuations(self, eco: ECOModel, items: list[TextItem], seed: int = 0) -> list[str]:
        gens = eco.generate([t.prompt for t in items], max_new_tokens=self.max_new_tokens, chat=False, seed=seed)
        return [g.text for g in gens]

    def penalty(self, eco: ECOModel, seed: int) -> float:
        return 0.0

    def cost(self) -> int:
        return len(self.items) * self.max_new_tokens

    def keys(self) -> list[str]:
        return [normalise(t.prompt) for t in self.items]


@dataclass
class SimilarityObjective(TextObjective):
    name: str = "similarity"
    _surrogate: float | None = None

    def rouge(self, eco: ECOModel, items: list[TextItem], seed: int = 0) -> float:
        from rouge_score.rouge_scorer import RougeScorer

        scorer = RougeScorer(["rougeL"], use_stemmer=True)
        gens = self.continuations(eco, items, seed)
        return float(np.mean([scorer.score(t.continuation, g)["rougeL"].recall for t, g in zip(items, gens)]))

    def metric(self, eco: ECOModel, seed: int) -> float:
        if self._surrogate is None:  # the plain model on text it never saw
            self._surrogate = self.rouge(ECOModel(eco.model, eco.tokenizer), self.heldout)
        return self.rouge(eco, self.items, seed)

    def surrogate(self) -> float:
        if self._surrogate is None:
            raise RuntimeError("the similarity surrogate is computed at the first evaluation")
        return self._surrogate


@dataclass
class SimilarityGapObjective(TextObjective):
    """The average similarity gap (module docstring) between the corrupted model's continuations of ``items``
    and the plain model's of ``heldout`` (text it never saw), both ``max_new_tokens`` long and each scored
    against its gold continuation cut to the same number of tokens."""

    name: str = "similarity_gap"
    reference: dict[str, float] | None = None
    """The plain model's mean scores on ``heldout``: computed at the first evaluation."""

    def __post_init__(self) -> None:
        if not self.items or not self.heldout:
            raise ValueError("the similarity-gap objective needs fit items and held-out items")

    def scores(self, eco: ECOModel, items: list[TextItem], seed: int = 0) -> dict[str, float]:
        """Mean ROUGE-L F1, BLEU and cosine of ``eco``'s greedy continuations of ``items``."""
        tok = eco.tokenizer
        refs = [tok.decode(tok(t.continuation, add_special_tokens=False).input_ids[: self.max_new_tokens])
                for t in items]  # fmt: skip
        return {k: float(v.mean()) for k, v in similarity_scores(self.continuations(eco, items, seed), refs).items()}

    def metric(self, eco: ECOModel, seed: int) -> float:
        if self.reference is None:  # the plain model on text it never saw
            self.reference = self.scores(ECOModel(eco.model, eco.tokenizer), self.heldout)
        fit = self.scores(eco, self.items, seed)
        return float(np.mean([abs(fit[k] - self.reference[k]) for k in SIMILARITY_METRICS]))

    def surrogate(self) -> float:
        return 0.0


# --- reading fit data -----------------------------------------------------------------------------------


def _get(rec: dict, names: tuple[str, ...], path, n):
    for k in names:
        if k in rec:
            return rec[k]
    raise PromptFileError(f"{path}:{n}: missing field, expected one of {', '.join(names)}")


def read_mcq(path: str | Path) -> list[MCQItem]:
    """JSONL: {"prompt"|"question", "options"|"choices": [...], "answer": index or option text}."""
    items = []
    for n, r in read_jsonl(path):
        prompt = _get(r, ("prompt", "question"), path, n)
        options = _get(r, ("options", "choices"), path, n)
        answer = _get(r, ("answer",), path, n)
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise PromptFileError(f"{path}:{n}: options must be a list of at least two strings")
        if isinstance(answer, str):
            if answer not in options:
                raise PromptFileError(f"{path}:{n}: answer {answer!r} is not one of the options")
            answer = options.index(answer)
        if not isinstance(answer, int) or not 0 <= answer < len(options):
            raise PromptFileError(f"{path}:{n}: answer must be an option index or option text")
        items.append(MCQItem(prompt, options, answer))
    return items


def read_qa(path: str | Path) -> list[QAItem]:
    """JSONL in TOFU's schema: {"question", "answer", "perturbed_answer": [...]}."""
    items = []
    for n, r in read_jsonl(path):
        pert = _get(r, ("perturbed_answer", "perturbed_answers"), path, n)
        if isinstance(pert, str):
            pert = [pert]
        items.append(QAItem(_get(r, ("question", "prompt"), path, n), _get(r, ("answer",), path, n), list(pert)))
    return items


def read_text_items(path: str | Path) -> list[TextItem]:
    """JSONL: {"prompt", "continuation"|"gold"}."""
    return [
        TextItem(_get(r, ("prompt",), path, n), _get(r, ("continuation", "gold"), path, n)) for n, r in read_jsonl(path)
    ]
