"""Measuring unlearning: task data (authors, domains, corpora), real-format loaders, TOFU metrics,
fine-tuning of targets, weight-editing baselines and the ``eco bench`` commands."""
