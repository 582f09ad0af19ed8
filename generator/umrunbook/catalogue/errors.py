"""The catalogue's one error, apart from the model so that every stage of loading can raise it."""

from __future__ import annotations


class CatalogueError(Exception):
    """A catalogue file is malformed: a defect of the package, never of the user's input."""
