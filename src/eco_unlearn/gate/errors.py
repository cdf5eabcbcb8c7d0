"""The error every bundle reader raises, in its own module so the bundle (``targets``) and the gate kinds
it loads (``classifier``) can both raise it without importing each other."""


class BundleError(ValueError):
    """A target bundle is missing, unreadable, invalid or from an incompatible version."""
