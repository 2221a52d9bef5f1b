"""Tesseract (Debian's tesseract-ocr, run as a program) reading cut-out text lines.

Each line is scaled to two text heights and binarised (Otsu; the pieces of ink that
touch the line's margin are background, tiny specks noise), all of a frame's lines
stacked into one picture for one tesseract run. A line tesseract is unsure of is tried
again in the other polarity and as each of its main colours (k-means: yellow letters
over an orange sleeve, white letters with a black outline over a white facade); the
reading it is surest of, with the most letters, wins.

Its German and English data are checked against the checksums the text analysis
pins (aima_tasks.kernel.analyses.screen_text) before the first reading; a missing
program or language file is named with the Debian package that brings it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from agents.model_cache import sha256_of
from aima_tasks.kernel.analyses.screen_text import LANGUAGES, TESSDATA_SHA256

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng"
# Pixels: each cut-out line is scaled to these heights (letters about 2/3 of it).
TEXT_HEIGHTS = (56, 72)
GAP = 24  # white rows between stacked lines
STACK = 64  # lines per tesseract run at most (a page of text stays a few seconds a run)
MARGIN = 16
# A line read with less confidence is tried again as each of its main colours.
RETRY_BELOW = 0.85
COLOURS = 4  # k-means clusters of a line's colours
# Pixels at the first height: smaller pieces of ink are noise (texture seen through
# an outline, mostly 1-5 pixels); the smallest umlaut dot measured (DejaVu Sans) has 10.
SPECK = 6
TIMEOUT_S = 60


class TesseractMissing(RuntimeError):
    """Tesseract or one of its language files is not installed (or not the pinned one)."""


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # 0..1, tesseract's word confidences averaged by length


@cache
def tesseract_program() -> tuple[str, Path]:
    """The tesseract program and its data folder, the language files verified; every
    run is pointed at that folder, so it reads the files checked here."""
    program = shutil.which("tesseract")
    if program is None:
        raise TesseractMissing(f"the text analysis needs tesseract: {INSTALL}")
    listing = subprocess.run([program, "--list-langs"], capture_output=True, text=True,
                             timeout=TIMEOUT_S, check=False)
    folder = _data_folder(listing.stdout + listing.stderr)
    for language, pinned in TESSDATA_SHA256.items():
        data = folder / f"{language}.traineddata"
        if not data.exists():
            raise TesseractMissing(f"tesseract has no {language!r} language data in "
                                   f"{folder}: apt-get install tesseract-ocr-{language}")
        if sha256_of(data) != pinned:
            raise TesseractMissing(
                f"{data} is not the pinned file (sha256 {pinned}, tessdata_fast 4.1.0): "
                f"reinstall tesseract-ocr-{language} (Debian 1:4.1.0-2, Ubuntu 22.04 "
                "1:4.00~git30-7274cfa-1.1)")
    return program, folder


def _data_folder(listing: str) -> Path:
    """Where tesseract reads its language data: tesseract 5 names the folder when it
    lists its languages, tesseract 4 does not (TESSDATA_PREFIX, else the folder of
    Debian's and Ubuntu's packages, tesseract-ocr/<version>/tessdata)."""
    named = re.search(r'"([^"]+)"', listing)
    if named:
        return Path(named.group(1))
    if os.environ.get("TESSDATA_PREFIX"):
        return Path(os.environ["TESSDATA_PREFIX"])
    packaged = sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"))
    return packaged[-1] if packaged else Path("/usr/share/tesseract-ocr/tessdata")


@cache
def tesseract_version() -> str:
    program, _ = tesseract_program()
    shown = subprocess.run([program, "--version"], capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False)
    first = (shown.stdout or shown.stderr).split("\n", 1)[0]
    return first.removeprefix("tesseract ").strip()


def read_lines(crops: list[np.ndarray]) -> list[Reading]:
    """One reading per cut-out line (RGB). All lines go to tesseract in one picture, each
    at two text heights (its word spacing and small letters come out right at one or
    the other); lines it is unsure of are tried again as their main colours and in the
    other polarity. The reading tesseract is surest of, with the most letters, wins."""
    best = [Reading("", 0.0) for _ in crops]
    _keep_best(best, [(i, _binarised(crop, height)[0])
                      for i, crop in enumerate(crops) for height in TEXT_HEIGHTS])
    unsure = [i for i, reading in enumerate(best) if reading.confidence < RETRY_BELOW]
    _keep_best(best, [(i, image) for i in unsure
                      for image in (_binarised(crops[i], TEXT_HEIGHTS[0])[1],
                                    *_colour_masks(crops[i], TEXT_HEIGHTS[0]))])
    return best


def _keep_best(best: list[Reading], tries: list[tuple[int, np.ndarray]]) -> None:
    for first in range(0, len(tries), STACK):
        batch = tries[first:first + STACK]
        for (index, _), reading in zip(batch, _read_stacked([image for _, image in batch]),
                                       strict=True):
            if _score(reading) > _score(best[index]):
                best[index] = reading


def _score(reading: Reading) -> float:
    """Confidence, and more letters read: a variant that lost half a line's letters to
    the background can still be sure of the rest ("Gr M n" for "Grüße aus München")."""
    return reading.confidence * sum(char.isalnum() for char in reading.text) ** 0.5


def _scaled(crop: np.ndarray, height: int) -> np.ndarray:
    factor = height / max(1, crop.shape[0])
    return cv2.resize(np.ascontiguousarray(crop), None, fx=factor, fy=factor,
                      interpolation=cv2.INTER_CUBIC)


def _binarised(crop: np.ndarray, height: int) -> list[np.ndarray]:
    """Black text on white by Otsu's threshold: the side the margin (background) is
    not on first, then the other (text over a picture can be either)."""
    grey = cv2.cvtColor(_scaled(crop, height), cv2.COLOR_RGB2GRAY)
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = binary == 0
    first, second = (~dark, dark) if _border(dark).mean() > 0.5 else (dark, ~dark)
    return [_letters(first, height), _letters(second, height)]


def _letters(ink: np.ndarray, height: int) -> np.ndarray:
    """The ink's pieces that do not touch the margin, black on white: letters lie
    inside their box, background (or an outline's outside) reaches its edge. Specks
    (texture seen through a picture) go too."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8),
                                                           connectivity=8)
    dropped = set(np.unique(_border(labels)).tolist())
    speck = SPECK * (height / TEXT_HEIGHTS[0]) ** 2
    dropped.update(np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < speck).tolist())
    dropped.discard(0)
    keep = ink & ~np.isin(labels, sorted(dropped))
    return np.where(keep, 0, 255).astype(np.uint8)


def _border(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _colour_masks(crop: np.ndarray, height: int) -> list[np.ndarray]:
    """Each main colour of the line (k-means) as black on white, twice: the pixels of
    that cluster, and the pixels near its colour (Otsu's threshold on the distance to
    it: the blurred edges and umlaut dots of a compressed picture stay with their
    letters); without the pieces touching the margin, where what remains could be
    letters (neither specks nor most of the box)."""
    rgb = _scaled(crop, height).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(16)  # the same line gives the same clusters, run after run
    _, labels, centres = cv2.kmeans(rgb.reshape(-1, 3), COLOURS, None, criteria, 2,
                                    cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(rgb.shape[:2])
    masks = []
    for cluster, centre in enumerate(centres):
        distance = np.linalg.norm(rgb - centre, axis=2)
        scaled = (255 * distance / max(1.0, float(distance.max()))).astype(np.uint8)
        _, far = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        masks += [_letters(labels == cluster, height), _letters(far == 0, height)]
    return [mask for mask in masks if 0.03 <= (mask == 0).mean() <= 0.6]


def _read_stacked(images: list[np.ndarray]) -> list[Reading]:
    """The lines stacked one under the other, read by one tesseract run; each word is
    given to the line whose rows hold its middle."""
    width = max(image.shape[1] for image in images) + 2 * MARGIN
    rows, spans, top = [], [], MARGIN
    for image in images:
        spans.append((top, top + image.shape[0]))
        rows.append(np.pad(image, ((0, GAP), (MARGIN, width - MARGIN - image.shape[1])),
                           constant_values=255))
        top += image.shape[0] + GAP
    canvas = np.pad(np.vstack(rows), ((MARGIN, 0), (0, 0)), constant_values=255)
    words: list[list[tuple[int, str, float]]] = [[] for _ in images]
    for left, middle, text, confidence in _tsv(canvas):
        for index, (start, stop) in enumerate(spans):
            if start <= middle < stop:
                words[index].append((left, text, confidence))
    return [_reading(sorted(found)) for found in words]


def _reading(words: list[tuple[int, str, float]]) -> Reading:
    letters = sum(len(text) for _, text, _ in words)
    if not letters:
        return Reading("", 0.0)
    confidence = sum(len(text) * conf for _, text, conf in words) / letters
    return Reading(" ".join(text for _, text, _ in words), max(0.0, confidence / 100))


def _tsv(image: np.ndarray) -> list[tuple[int, int, str, float]]:
    """(left, vertical middle, text, confidence 0-100) of every word tesseract reads."""
    program, folder = tesseract_program()
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("could not encode the lines for tesseract")
    # One thread: OpenMP's spinning threads slow tesseract down where other work
    # shares the CPU.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "TESSDATA_PREFIX": str(folder)}
    done = subprocess.run(
        # The lines come binarised black on white: tesseract need not try them inverted
        # (a quarter of its time on the test pictures, the same readings).
        [program, "stdin", "stdout", "-l", LANGUAGES, "--psm", "6", "--dpi", "300",
         "-c", "tessedit_do_invert=0", "tsv"],
        input=png.tobytes(), capture_output=True, timeout=TIMEOUT_S, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed: {done.stderr.decode(errors='replace')[-500:]}")
    words = []
    for row in done.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        field = row.split("\t")
        if len(field) >= 12 and field[11].strip() and float(field[10]) >= 0:
            top, height = int(field[7]), int(field[9])
            words.append((int(field[6]), top + height // 2, field[11].strip(), float(field[10])))
    return words
