"""How large a picture or video frame AIMA decodes, for the control plane and agents alike.

Read from the environment (``AIMA_MAX_MEGAPIXELS``) so that an agent, which has no
Django settings, holds the same limit as the control plane that probed the media.
"""

from __future__ import annotations

import os

DEFAULT_MAX_MEGAPIXELS = 120  # an 8K frame is 35, a 100-megapixel camera's photo passes


def max_pixels() -> int:
    raw = os.environ.get("AIMA_MAX_MEGAPIXELS") or str(DEFAULT_MAX_MEGAPIXELS)
    try:
        megapixels = int(raw)
    except ValueError:
        raise ValueError(f"AIMA_MAX_MEGAPIXELS={raw!r}: must be a whole number") from None
    if megapixels < 1:
        raise ValueError(f"AIMA_MAX_MEGAPIXELS={raw!r}: must be at least 1")
    return megapixels * 1_000_000
