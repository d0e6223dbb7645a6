"""Errors the emotion stage raises on purpose."""

from __future__ import annotations

from callscope.core.errors import CallscopeError, ModelError


class EmotionError(CallscopeError):
    """Base of every error the emotion stage raises on purpose."""


class EmotionModelError(EmotionError, ModelError):
    """An emotion model cannot be found, loaded or read (unknown labels, bad label map)."""
