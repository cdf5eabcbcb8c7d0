"""Which prompts are not written in English.

The default classifier backbone (MiniLM) reads English: asked the same chemistry question in French or
German it misses about a quarter of them, while the multilingual backbone (e5) is a little less precise on
English look-alikes. The ``minilm+e5`` backbone (routed_classifier.py) asks e5 for a second opinion only on
prompts that are not English, and this module says which those are.

Identification is py3langid's naive Bayes model over byte n-grams (97 languages, shipped in the wheel,
about 30 µs a prompt, no model download). On short prompts it sometimes calls English something else (a
question that is mostly an element's name, or leetspeak); that costs little, because a prompt called
non-English is scored by *both* backbones, never by e5 alone.
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _identifier():
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        raise RuntimeError(
            "the minilm+e5 backbone needs py3langid to tell English prompts from others: "
            "pip install -e '.[multilingual]' (or py3langid==0.4.0)"
        ) from None
    return LanguageIdentifier.from_model_file(MODEL_FILE)


def not_english(texts: list[str]) -> np.ndarray:
    """True for each text whose most likely language is not English (empty text counts as English)."""
    ident = _identifier()
    return np.array([bool(t.strip()) and ident.classify(t)[0] != "en" for t in texts], dtype=bool)
