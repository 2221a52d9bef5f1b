"""Real photographs for the vision tests and benchmarks, every one shipped in a package
installed by requirements/ (PyPI) or .ci/run (Debian); nothing is downloaded.

Sources and licenses:
- OpenCV's sample data, Debian package ``opencv-doc`` (4.6), under OpenCV's license
  (Apache-2.0; debian/copyright, ``Files: *``): /usr/share/doc/opencv-doc/examples/data.
- scikit-image's data folder, PyPI ``scikit-image`` 0.26 (requirements/dev.txt):
  astronaut.png (Eileen Collins, NASA, public domain), coffee.png and chelsea.png (CC0),
  brick.png (CC0).

``people`` counts who a person looking at the picture would call present (crowds in the
far background of messi5.jpg are not counted: they are a few pixels high and blurred);
each test holds its own boxes for them.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_LICENSE = "Apache-2.0 (OpenCV sample data, Debian opencv-doc)"


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    license: str
    people: int  # clearly visible people
    what: str


def _skimage(name: str) -> Path:
    return Path(str(importlib.metadata.distribution("scikit-image")
                    .locate_file(f"skimage/data/{name}")))


def _opencv(name: str) -> Path:
    return OPENCV_DATA / name


ASTRONAUT = Photo("astronaut", _skimage("astronaut.png"), "public domain (NASA)", 1,
                  "one woman, head and torso, facing the camera, colour")
BASKETBALL_1 = Photo("basketball1", _opencv("basketball1.png"), OPENCV_LICENSE, 2,
                     "grey: a man facing the camera, whole body; another seen from "
                     "behind in profile at the right edge, cut by the frame")
BASKETBALL_2 = Photo("basketball2", _opencv("basketball2.png"), OPENCV_LICENSE, 2,
                     "the same two men a moment later")
FOOTBALLER = Photo("messi5", _opencv("messi5.jpg"), OPENCV_LICENSE, 1,
                   "a footballer kicking, limbs spread, blurred crowd behind")

PEOPLE = (ASTRONAUT, BASKETBALL_1, BASKETBALL_2, FOOTBALLER)
NOBODY = (
    Photo("coffee", _skimage("coffee.png"), "CC0", 0, "a cup of coffee"),
    Photo("chelsea", _skimage("chelsea.png"), "CC0", 0, "a cat's face"),
    Photo("leuvenA", _opencv("leuvenA.jpg"), OPENCV_LICENSE, 0, "an empty street"),
    Photo("building", _opencv("building.jpg"), OPENCV_LICENSE, 0, "an office block"),
    Photo("fruits", _opencv("fruits.jpg"), OPENCV_LICENSE, 0, "cut fruit"),
    Photo("squirrel", _opencv("squirrel_cls.jpg"), OPENCV_LICENSE, 0, "a squirrel"),
    Photo("stuff", _opencv("stuff.jpg"), OPENCV_LICENSE, 0, "things on a table"),
    Photo("home", _opencv("home.jpg"), OPENCV_LICENSE, 0, "a palace and birds"),
)
# 768x576, 10 frames a second, 79.5 s: pedestrians walking through a hall, crossing
# and hiding each other (OpenCV's tracking sample).
PEDESTRIANS_VIDEO = _opencv("vtest.avi")
