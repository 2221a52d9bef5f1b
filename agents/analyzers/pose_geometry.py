"""What body and hand landmarks say, by simple geometric rules: posture (standing,
sitting, lying), which way a person faces, and hand gestures (open palm, fist,
pointing). Landmarks are MediaPipe's: 33 body points and 21 hand points, pixels.

Body points used: 0 nose, 11/12 left/right shoulder, 23/24 hips, 25/26 knees.
Hand points: 0 wrist; per finger MCP, PIP, DIP, tip: index 5-8, middle 9-12,
ring 13-16, pinky 17-20 (the thumb, 1-4, is left out: it folds sideways).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]  # x, y[, visibility]

SEEN = 0.5  # a landmark this visible is trusted
# Torso further than this from upright: lying.
LYING_DEGREES = 55.0
# Thighs closer than this to horizontal, both on average: sitting.
SITTING_DEGREES = 35.0
# Shoulders closer together than this share of the torso length (across the picture):
# seen from the side.
PROFILE_WIDTH = 0.35
# A finger is stretched when its tip lies this much further from the wrist than its
# middle joint (PIP); curled, the tip comes back towards the palm.
STRETCHED = 1.2
FINGERS = ((6, 8), (10, 12), (14, 16), (18, 20))  # (PIP, tip): index, middle, ring, pinky


def _seen(points: Sequence[Point], *indices: int) -> bool:
    return all(len(points[i]) < 3 or points[i][2] >= SEEN for i in indices)


def _mid(a: Point, b: Point) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def posture(points: Sequence[Point]) -> str:
    """"standing", "sitting", "lying", or "unknown" when hips or knees are not seen."""
    if not _seen(points, 11, 12, 23, 24):
        return "unknown"
    shoulders, hips = _mid(points[11], points[12]), _mid(points[23], points[24])
    dx, dy = shoulders[0] - hips[0], hips[1] - shoulders[1]
    if math.degrees(math.atan2(abs(dx), dy)) > LYING_DEGREES:
        return "lying"  # also upside down: dy < 0 gives an angle over 90
    if not _seen(points, 25, 26):
        return "unknown"
    slopes = [math.degrees(math.atan2(abs(points[knee][1] - points[hip][1]),
                                      abs(points[knee][0] - points[hip][0]) or 1e-6))
              for hip, knee in ((23, 25), (24, 26))]
    return "sitting" if sum(slopes) / 2 < SITTING_DEGREES else "standing"


def facing(points: Sequence[Point]) -> str:
    """"camera", "away", "profile", or "unknown" without both shoulders.

    Facing the camera, a person's left shoulder (11) is on the picture's right; from
    behind, on its left; from the side the shoulders nearly meet. The torso length
    (shoulders to hips, or twice shoulders to nose) sets what "nearly" means."""
    if not _seen(points, 11, 12):
        return "unknown"
    left, right = points[11], points[12]
    shoulders = _mid(left, right)
    if _seen(points, 23, 24):
        hips = _mid(points[23], points[24])
        torso = math.dist(shoulders, hips)
    else:
        torso = 2 * math.dist(shoulders, points[0][:2])
    across = left[0] - right[0]
    if abs(across) < PROFILE_WIDTH * torso:
        return "profile"
    return "camera" if across > 0 else "away"


def gesture(hand: Sequence[Point]) -> str:
    """"open_palm" (four fingers stretched), "fist" (none), "pointing" (the index
    alone), otherwise "other"."""
    wrist = hand[0]
    stretched = [math.dist(wrist[:2], hand[tip][:2]) >
                 STRETCHED * math.dist(wrist[:2], hand[pip][:2]) for pip, tip in FINGERS]
    if all(stretched):
        return "open_palm"
    if not any(stretched):
        return "fist"
    if stretched == [True, False, False, False]:
        return "pointing"
    return "other"


def summary(postures: Sequence[str], facings: Sequence[str]) -> dict[str, float]:
    """Shares of the samples a track was seen in each posture and facing way; samples
    where it could not be told count in neither."""
    shares: dict[str, float] = {}
    for values, keys, names in (
        (postures, ("standing", "sitting", "lying"), ("standing", "sitting", "lying")),
        (facings, ("camera", "away", "profile"), ("facing_camera", "facing_away", "profile")),
    ):
        for key, name in zip(keys, names, strict=True):
            shares[name] = round(sum(v == key for v in values) / len(values), 3) \
                if values else 0.0
    return shares
