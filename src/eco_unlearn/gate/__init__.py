"""Deciding whether a prompt is in scope: classifier kinds, augmentation, entity strings, calibration of
the threshold, prompt files, target creation and the on-disk target bundle."""
