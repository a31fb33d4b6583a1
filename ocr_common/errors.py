"""Errors a predictor raises that the server answers with a status of its own (not a 500)."""

from __future__ import annotations


class ModelUnavailable(RuntimeError):
    """A part of a task's pipeline has no weights (e.g. the Chinese page detector); answered 503."""
