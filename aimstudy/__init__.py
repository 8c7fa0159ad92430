"""aimstudy: run, track and analyse AIM multi-task studies on molecular property data."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
