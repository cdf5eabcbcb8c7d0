"""Deciding whether a prompt is in scope: classifier kinds, augmentation, entity strings, calibration of
the threshold, prompt files, target creation and the on-disk target bundle."""


def clear_prompt_caches() -> None:
    """Forget the per-prompt caches (a prompt's normalised views and its shingles), which let the gates of
    many targets read a prompt once. A benchmark that times a prompt as a gateway first sees it clears them
    before each call; nothing else needs to."""
    from eco_unlearn.gate import entity_evidence, verbatim

    entity_evidence._views.cache_clear()
    verbatim._prompt_shingles.cache_clear()
