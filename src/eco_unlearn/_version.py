"""The package version, in a module of its own so any layer can read it without importing the package root
(whose public names load core and gate)."""

__version__ = "0.1.0"
