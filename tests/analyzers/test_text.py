"""Text on screen (OCR) on generated pictures and videos: German with umlauts and ß read
exactly, English too, over plain colours (dark on light, light on dark) and over real
photographs, at several sizes; nothing read on photographs without text; captions on
video with the times they come and go, a video cut in segments and joined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agents.analyzers import tesseract
from agents.analyzers.context import AnalysisContext
from agents.analyzers.text import SAMPLE_FPS, read_text
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses.screen_text import TEXT, TEXT_DETECTOR, join_text, screen_text
from tests.analyzers import photos
from tests.analyzers.text_media import (
    SANS,
    SANS_BOLD,
    SERIF,
    Caption,
    caption_on,
    caption_video,
    captions_over,
)
from tests.analyzers.vision_media import moving_figure_video

GERMAN = ["Grüße aus München", "Straße 12", "Übermäßig schön",
          "Die Bäckerei schließt um 18 Uhr", "Größe und Gewicht prüfen",
          "Öffnungszeiten: Montag bis Freitag", "Äpfel, Birnen und Nüsse"]
ENGLISH = ["The quick brown fox jumps", "Welcome to the city centre",
           "Exit 24 to the Airport", "Opening hours: 9 am to 5 pm"]
# (name, text colour, background, font) for text over plain colours.
STYLES = [("dark-on-light", (0, 0, 0), (255, 255, 255), SANS),
          ("light-on-dark", (255, 255, 255), (25, 30, 40), SANS_BOLD),
          ("serif-navy-on-cream", (30, 30, 90), (235, 225, 200), SERIF)]
SIZES = (16, 40)
# Over photographs: yellow bold without outline, white with a black outline.
OVER_PHOTOS = [(photos.ASTRONAUT, (255, 255, 0), None),
               (photos.NOBODY[2], (255, 255, 255), (0, 0, 0))]  # leuvenA: a street
PHOTO_LINES = [GERMAN[0], GERMAN[3], ENGLISH[1], GERMAN[2]]
Drawn = list[tuple[str, tuple[int, int, int, int]]]


@pytest.fixture(scope="module")
def ctx() -> AnalysisContext:
    return AnalysisContext(builtin=packaged_models((TEXT_DETECTOR,)))


def _plain(folder: Path, style: tuple[Any, ...], size: int) -> tuple[Path, Drawn]:
    name, colour, background, font = style
    lines = GERMAN + ENGLISH
    step = round(size * 1.8)
    picture = Image.new("RGB", (1400 if size > 30 else 1000, 30 + len(lines) * step),
                        background)
    drawn = [(line, caption_on(picture, line, (30, 20 + i * step), size=size,
                               colour=colour, font=font)) for i, line in enumerate(lines)]
    path = folder / f"{name}-{size}.png"
    picture.save(path)
    return path, drawn


def _over_photo(folder: Path, photo: photos.Photo, colour: tuple[int, int, int],
                outline: tuple[int, int, int] | None) -> tuple[Path, Drawn]:
    with Image.open(photo.path) as opened:
        picture = opened.convert("RGB").resize((800, 600))
    drawn = [(line, caption_on(picture, line, (30, 60 + i * 130), size=36, colour=colour,
                               outline=outline, font=SANS_BOLD))
             for i, line in enumerate(PHOTO_LINES)]
    path = folder / f"over-{photo.name}.jpg"
    picture.save(path, quality=92)
    return path, drawn


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory,
             ctx: AnalysisContext) -> list[tuple[str, Drawn, dict[str, Any]]]:
    """Every test picture: its name, the lines drawn (with their boxes), the result."""
    folder = tmp_path_factory.mktemp("text")
    made = [_plain(folder, style, size) for style in STYLES for size in SIZES]
    made += [_over_photo(folder, *over) for over in OVER_PHOTOS]
    return [(path.stem, drawn, read_text(path, ctx)) for path, drawn in made]


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _overlap(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_german_umlauts_and_eszett_read_exactly(
        pictures: list[tuple[str, Drawn, dict[str, Any]]]) -> None:
    """The umlaut and ß lines, in every style and size and over both photographs."""
    for name, drawn, result in pictures:
        read = [line["text"] for line in result["lines"]]
        for text, _ in drawn:
            if text in GERMAN[:5]:
                assert text in read, (name, text, read)


def test_accuracy_boxes_and_confidence(
        pictures: list[tuple[str, Drawn, dict[str, Any]]]) -> None:
    """All lines (German and English): exact-line rate, character error rate (the
    closest line read against each line drawn), every line found where it was drawn,
    nothing read that was not drawn."""
    exact = errors = characters = lines = 0
    for name, drawn, result in pictures:
        found = result["lines"]
        assert len(found) == len(drawn), (name, [x["text"] for x in found])
        for text, box in drawn:
            nearest = max(found, key=lambda x: _overlap(x["box"], box))
            assert _overlap(nearest["box"], box) > 0.5, (name, text, nearest)
            assert 0.8 <= nearest["confidence"] <= 1.0
            exact += nearest["text"] == text
            if nearest["text"] != text:
                print(f"text: {name}: {text!r} read as {nearest['text']!r}")
            errors += _distance(nearest["text"], text)
            characters += len(text)
            lines += 1
        assert result["text"] == "\n".join(x["text"] for x in found)
        assert "start_s" not in found[0] and result["frames_analysed"] == 1
    print(f"text: {exact}/{lines} lines exact, CER {errors / characters:.4f}")
    assert exact / lines >= 0.88, (exact, lines)
    assert errors / characters <= 0.01, (errors, characters)


def test_nothing_read_on_photographs_without_text(ctx: AnalysisContext) -> None:
    for photo in (*photos.NOBODY, *photos.PEOPLE[:3]):
        result = read_text(photo.path, ctx)
        assert result["lines"] == [], (photo.name, result["lines"])
        assert result["text"] == ""


CAPTIONS = [Caption("Grüße aus München", 0.5, 2.0),
            Caption("Straße 12", 2.0, 3.5),  # replaces it in the same place
            Caption("Welcome to Berlin", 1.0, 3.0, at=(40, 40), size=24,
                    colour=(0, 0, 0), band=(240, 240, 240))]
# A line comes and goes between two samples (and frames are 0.04 s apart).
LATE_S = 1 / SAMPLE_FPS + 0.05


@pytest.fixture(scope="module")
def captions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return caption_video(tmp_path_factory.mktemp("captions") / "captions.mp4", CAPTIONS,
                         seconds=4.0)


@pytest.fixture(scope="module")
def whole(captions: Path, ctx: AnalysisContext) -> dict[str, Any]:
    return read_text(captions, ctx)


def _check_captions(result: dict[str, Any]) -> None:
    found = result["lines"]
    assert [x["text"] for x in found] == [c.text for c in CAPTIONS[:1] + CAPTIONS[2:]
                                          + CAPTIONS[1:2]]
    for caption in CAPTIONS:
        line = next(x for x in found if x["text"] == caption.text)
        assert caption.start_s <= line["start_s"] <= caption.start_s + LATE_S, line
        assert caption.end_s <= line["end_s"] <= caption.end_s + LATE_S, line


def test_video_captions_with_their_times(whole: dict[str, Any]) -> None:
    """Each caption once, with the time it came and went; only keyframes read."""
    _check_captions(whole)
    assert whole["frames_analysed"] <= 7  # 16 samples, 5 changes, the first frame
    assert (whole["width"], whole["height"]) == (640, 360)
    shown = screen_text(whole)
    assert [x["text"] for x in shown] == [x["text"] for x in whole["lines"]]


def test_video_cut_in_segments_and_joined(captions: Path, ctx: AnalysisContext,
                                          whole: dict[str, Any]) -> None:
    """The first caption crosses the cut at 1.5 s: one line again after the join."""
    parts = [read_text(captions, AnalysisContext(builtin=ctx.builtin, start_s=a, end_s=b))
             for a, b in ((0.0, 1.5), (1.5, 4.0))]
    assert any(x["text"] == CAPTIONS[0].text for x in parts[1]["lines"])
    joined = TEXT.merge(parts) if TEXT.merge else {}
    _check_captions(joined)
    assert joined == join_text(parts)
    assert [x["text"] for x in joined["lines"]] == [x["text"] for x in whole["lines"]]


def test_caption_over_a_person_walking(tmp_path: Path, ctx: AnalysisContext) -> None:
    """The end-to-end scene: a person moving under a fixed German caption. The picture
    changes at every sample, the caption is read once and spans the whole video."""
    person = moving_figure_video(tmp_path / "person.mp4", seconds=2.0)
    video = captions_over(person, tmp_path / "captioned.mp4",
                          [Caption("Übermäßig schön", 0.0, 2.0, at=(150, 20), size=32)])
    result = read_text(video, ctx)
    assert [(x["text"], x["start_s"], x["end_s"]) for x in result["lines"]] == \
        [("Übermäßig schön", 0.0, 2.0)]


def test_missing_tesseract_or_language_named(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tesseract.tesseract_program.cache_clear()
    try:
        monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
        with pytest.raises(tesseract.TesseractMissing, match="tesseract-ocr-deu"):
            tesseract.tesseract_program()
        monkeypatch.setenv("PATH", str(tmp_path))
        tesseract.tesseract_program.cache_clear()
        with pytest.raises(tesseract.TesseractMissing,
                           match="tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng"):
            tesseract.tesseract_program()
    finally:
        tesseract.tesseract_program.cache_clear()


def test_tesseract_4_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent image (Ubuntu 22.04) has tesseract 4.1, whose language list names no
    folder: TESSDATA_PREFIX, else the packages' folder."""
    listing = "List of available languages (3):\ndeu\neng\nosd\n"
    monkeypatch.delenv("TESSDATA_PREFIX", raising=False)
    assert (tesseract._data_folder(listing) / "deu.traineddata").exists()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert tesseract._data_folder(listing) == tmp_path
