"""Corpora: chapter splitting, and the real Austen text fetched from the Debian registry."""

from __future__ import annotations

import pytest

from eco_unlearn.evaluation.corpora import BOOKS, austen, chapters


def test_chapters_join_paragraphs_and_drop_headings():
    lines = ["PRIDE", "", "Chapter 1", "", "It is a truth", "universally acknowledged.", "", "Next para.", "Chapter 2",
             "Second."]  # fmt: skip
    assert chapters(lines) == ["It is a truth universally acknowledged.\nNext para.", "Second."]


def test_austen_from_the_debian_package():
    lines = austen("prideprejudice")
    assert chapters(lines)[0].startswith("It is a truth universally acknowledged")
    assert "persuasion" in BOOKS
    with pytest.raises(ValueError, match="unknown book"):
        austen("ulysses")
