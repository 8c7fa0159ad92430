"""STL: single-task learning. The trainer trains one model per task; the update is LS's."""

from __future__ import annotations

from ._ls import LS
from ._registry import register


@register("stl")
class STL(LS):
    """Each task's own gradient on its own encoder: with one task per model this is LS.

    The trainer builds one model per task for ``stl``; given several tasks it behaves as ``ls``.
    """
