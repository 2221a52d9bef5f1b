"""Text on screen (OCR): PP-OCRv4's detector finds the text lines, tesseract reads them.

The detector (ONNX, from rapidocr-onnxruntime) finds lines of text even over busy
photographs; tesseract (deu+eng, Debian's tesseract-ocr) reads each line, umlauts and
ß included, which rapidocr's own recogniser does not know. Every line is cut out,
scaled and binarised here (tesseract binarises a whole picture at once, which fails
where lines lie on different backgrounds); all lines of a frame go to one tesseract
process, stacked one under the other (agents.analyzers.tesseract).

Measured on the test pictures (tests/analyzers/test_text.py and 115 lines more):
detector + tesseract read 95 % of the lines exactly (CER 0.3 %), tesseract alone on
the whole picture 83 % (CER 7-11 %: it loses lines over photographs).

On video only keyframes are read: a sample becomes a keyframe when its picture differs
from the last keyframe's; a line already read whose pixels did not change is not read
again. Each line is reported once per stay on screen, with the times it came and went.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import iter_frames, load_rgb, video_meta
from agents.analyzers.tesseract import Reading, read_lines, tesseract_version
from aima_tasks.kernel.analyses.screen_text import LANGUAGES, TEXT_DETECTOR
from aima_tasks.kernel.analyses.spec import MediaType
from aima_tasks.kernel.probe import sniff

# The detector sees the picture with its shorter side at least this large (small
# captions need it; rapidocr's 736 read the test set no better at twice the cost) and
# its longer side at most DET_MAX_SIDE (cost).
DET_MIN_SIDE = 544
DET_MAX_SIDE = 1600
DET_THRESH = 0.3  # text probability of a pixel (DB binarisation)
DET_BOX_THRESH = 0.5  # mean probability inside a box; lower boxes are noise
DET_UNCLIP = 1.6
MIN_BOX_HEIGHT = 8  # pixels: smaller text cannot be read
# What a line needs to be reported. On the 11 photographs without text of
# tests/analyzers/photos.py the detector's stray boxes (fur, a button, a cup's rim)
# read as one sign or letter ("U", "J", "®", "e", "!", "6") at confidences up to 0.93;
# with a larger detector input (736) also as longer garbage at 0.72-0.76 ("a4", "Lift"
# on a facade). Real lines read at 0.89-0.97 over plain colours and photographs alike.
# So: two letters or digits at least, and a confidence of 0.8.
MIN_CONFIDENCE = 0.8
MIN_CHARACTERS = 2

SAMPLE_FPS = 4.0  # video samples looked at; keyframes are a subset of them
VIDEO_MAX_SIDE = 1280  # frames are read at most this large
THUMB = (160, 90)
PIXEL_CHANGE = 24  # grey levels: a thumbnail pixel that changed
KEYFRAME_SHARE = 0.002  # ...this share of them changed: a new keyframe
SAME_CROP = 6.0  # mean grey difference under which a line's pixels are unchanged
SAME_LINE = 0.8  # text similarity above which two readings are one line


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[int, int, int, int]  # x, y, width, height in the media's pixels
    confidence: float


class TextDetector:
    """PP-OCRv4's DB text detector: a probability map, then boxes around text lines."""

    def __init__(self, model: LoadedModel, device: str = "cpu", threads: int = 0) -> None:
        # rapidocr's own pre- and post-processing (resize to /32, DB boxes with unclip).
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model.path), options, providers=providers)
        self.provider = self.session.get_providers()[0]
        self.post = DBPostProcess(thresh=DET_THRESH, box_thresh=DET_BOX_THRESH,
                                  unclip_ratio=DET_UNCLIP, use_dilation=True)

    def boxes(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Upright boxes (x, y, w, h) around the lines found, top to bottom."""
        height, width = rgb.shape[:2]
        scale = max(DET_MIN_SIDE / min(height, width), 1.0)
        scale = min(scale, DET_MAX_SIDE / max(height, width))
        size = (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))
        # PP-OCR was trained on BGR pictures normalised to [-1, 1].
        bgr = cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), size)
        tensor = ((bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        prediction = self.session.run(None, {self.session.get_inputs()[0].name: tensor})[0]
        quads, _ = self.post(prediction, (height, width))
        found = []
        for quad in quads:
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            x0, y0 = max(0, x0), max(0, y0)
            x1, y1 = min(width, x1), min(height, y1)
            if y1 - y0 >= MIN_BOX_HEIGHT and x1 - x0 >= MIN_BOX_HEIGHT:
                found.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
        return sorted(found, key=lambda b: (b[1] + b[3] / 2, b[0]))


def read_text(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """The text lines in a picture, or on screen in a video over [ctx.start_s, ctx.end_s)."""
    model = ctx.built_in(TEXT_DETECTOR.name)
    info = {"name": model.name, "version": model.version, "detector": model.name,
            "reader": f"tesseract {tesseract_version()}", "languages": LANGUAGES}
    detector = TextDetector(model, ctx.device)
    if sniff(path) == MediaType.IMAGE:
        rgb = load_rgb(path)
        lines = [x for x in read_frame(detector, rgb) if plausible(x)]
        return {"model": info, "width": rgb.shape[1], "height": rgb.shape[0],
                "frames_analysed": 1,
                "lines": [{"text": x.text, "box": list(x.box), "confidence": x.confidence}
                          for x in lines],
                "text": "\n".join(x.text for x in lines)}
    return {"model": info, **read_video(path, ctx, detector)}


def read_frame(detector: TextDetector, rgb: np.ndarray,
               known: dict[tuple[int, int, int, int], tuple[np.ndarray, Line]] | None = None,
               ) -> list[Line]:
    """Every box of one picture read, in reading order, whether plausible or not.
    ``known`` maps the boxes of the last keyframe to their pixels and reading: an
    unchanged box is not read again."""
    boxes = detector.boxes(rgb)
    lines: dict[int, Line] = {}
    to_read = []
    for index, box in enumerate(boxes):
        reused = _unchanged(rgb, box, known or {})
        if reused is not None:
            lines[index] = reused
        else:
            to_read.append(index)
    readings = read_lines([_crop(rgb, boxes[i]) for i in to_read])
    for index, reading in zip(to_read, readings, strict=True):
        lines[index] = _line(reading, boxes[index])
    return [lines[i] for i in sorted(lines)]


def plausible(line: Line) -> bool:
    """Text rather than a stray box's garbage (see MIN_CONFIDENCE)."""
    letters = sum(char.isalnum() for char in line.text)
    return line.confidence >= MIN_CONFIDENCE and letters >= MIN_CHARACTERS


def _line(reading: Reading, box: tuple[int, int, int, int]) -> Line:
    return Line(reading.text, box, round(reading.confidence, 3))


def _crop(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The box with a margin: the detector's boxes hug the letters, and tesseract wants
    some background around them (and the dots of Ü above the box's top)."""
    x, y, w, h = box
    pad = max(2, h // 5)
    return rgb[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]


def _unchanged(rgb: np.ndarray, box: tuple[int, int, int, int],
               known: dict[tuple[int, int, int, int], tuple[np.ndarray, Line]],
               ) -> Line | None:
    for old_box, (pixels, line) in known.items():
        if _iou(box, old_box) < 0.8:
            continue
        crop = _crop(rgb, old_box).astype(np.float32)
        if crop.shape == pixels.shape and float(np.abs(crop - pixels).mean()) < SAME_CROP:
            return replace(line, box=old_box)
    return None


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


@dataclass
class _Stay:
    """A line on screen from start_s, last seen at seen_s, with its best reading."""

    line: Line
    start_s: float
    seen_s: float


def read_video(path: Path, ctx: AnalysisContext, detector: TextDetector) -> dict[str, Any]:
    meta = video_meta(path)
    reduce = min(1.0, VIDEO_MAX_SIDE / max(meta.width, meta.height))
    work = (max(1, round(meta.width * reduce)), max(1, round(meta.height * reduce)))
    scale = meta.width / work[0], meta.height / work[1]
    last_thumb: np.ndarray | None = None
    known: dict[tuple[int, int, int, int], tuple[np.ndarray, Line]] = {}
    open_: list[_Stay] = []
    done: list[_Stay] = []
    keyframes, last_s = 0, ctx.start_s
    for frame in iter_frames(path, *work, "rgb24", start_s=ctx.start_s, end_s=ctx.end_s,
                             step_s=1 / SAMPLE_FPS):
        last_s = frame.time_s
        thumb = cv2.resize(cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2GRAY), THUMB,
                           interpolation=cv2.INTER_AREA).astype(np.int16)
        if last_thumb is not None and _share_changed(last_thumb, thumb) < KEYFRAME_SHARE:
            continue
        last_thumb, keyframes = thumb, keyframes + 1
        read = read_frame(detector, frame.pixels, known)
        known = {x.box: (_crop(frame.pixels, x.box).astype(np.float32), x) for x in read}
        open_, ended = _follow(open_, [x for x in read if plausible(x)], frame.time_s)
        done += ended
    end_s = meta.duration_s or last_s + 1 / SAMPLE_FPS
    if ctx.end_s is not None:
        end_s = min(end_s, ctx.end_s)
    stays = sorted(done + [replace(s, seen_s=end_s) for s in open_],
                   key=lambda s: (s.start_s, s.line.box[1]))
    lines_out = [{"text": s.line.text, "box": _scaled(s.line.box, scale),
                  "confidence": s.line.confidence, "start_s": round(s.start_s, 3),
                  "end_s": round(s.seen_s, 3)} for s in stays]
    return {"width": meta.width, "height": meta.height, "sample_fps": SAMPLE_FPS,
            "frames_analysed": keyframes, "lines": lines_out,
            "text": "\n".join(x["text"] for x in lines_out)}


def _share_changed(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b) > PIXEL_CHANGE).mean())


def _follow(open_: list[_Stay], lines: list[Line], time_s: float,
            ) -> tuple[list[_Stay], list[_Stay]]:
    """The stays still on screen after this keyframe, and those that ended at it (their
    end is this keyframe's time: the last moment they were surely there is before it)."""
    still: list[_Stay] = []
    waiting = list(open_)
    for line in lines:
        match = next((s for s in waiting if _same_line(s.line, line)), None)
        if match is None:
            still.append(_Stay(line, time_s, time_s))
            continue
        waiting.remove(match)
        best = line if line.confidence > match.line.confidence else match.line
        still.append(_Stay(best, match.start_s, time_s))
    return still, [replace(s, seen_s=time_s) for s in waiting]


def _same_line(a: Line, b: Line) -> bool:
    """One line seen twice: the same place (a moving caption overlaps itself from one
    sample to the next) and nearly the same text (a letter misread in one keyframe)."""
    near = _iou(a.box, b.box) > 0.3
    return near and difflib.SequenceMatcher(None, a.text, b.text).ratio() >= SAME_LINE


def _scaled(box: tuple[int, int, int, int], scale: tuple[float, float]) -> list[int]:
    return [round(box[0] * scale[0]), round(box[1] * scale[1]),
            round(box[2] * scale[0]), round(box[3] * scale[1])]
