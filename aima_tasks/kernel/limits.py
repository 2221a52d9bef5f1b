"""How large a picture or video frame AIMA decodes, for the control plane and agents alike.

Read from the environment (``AIMA_MAX_MEGAPIXELS``) so that an agent, which has no
Django settings, holds the same limit as the control plane that probed the media.
"""

from __future__ import annotations

import os

from aima_tasks.kernel.numbers import whole_number

DEFAULT_MAX_MEGAPIXELS = 120  # an 8K frame is 35, a 100-megapixel camera's photo passes


def max_pixels() -> int:
    raw = os.environ.get("AIMA_MAX_MEGAPIXELS") or str(DEFAULT_MAX_MEGAPIXELS)
    try:
        megapixels = whole_number(raw, least=1)
    except ValueError as problem:
        raise ValueError(f"AIMA_MAX_MEGAPIXELS={raw!r}: {problem}") from None
    return megapixels * 1_000_000
