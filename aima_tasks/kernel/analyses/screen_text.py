"""The text analysis (OCR: text on screen and in pictures), declared for the control
plane, with the model files it loads and the pure-Python join of video segments.

Result, media times throughout:
    {"model": {"name", "version", "detector", "reader", "languages"},
     "width", "height", "frames_analysed": int (keyframes read; 1 for a picture),
     "lines": [{"text", "box": [x, y, w, h], "confidence": 0..1,
                "start_s", "end_s" (video only: first seen, gone)}],
     "text": the lines joined by newlines, in reading order (video: by time)}

Boxes are found by PP-OCRv4's text detector (ONNX, shipped in rapidocr-onnxruntime,
Apache-2.0): robust on text over pictures. Each box is read by tesseract (Debian's
tesseract-ocr with its German and English data, Apache-2.0), which reads umlauts and
ß exactly where rapidocr's Chinese/English recogniser loses them.
"""

from __future__ import annotations

import re
from typing import Any

from aima_tasks.kernel.analyses.sections import Section, Slot, by_time, dicts, num
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

RAPIDOCR = "rapidocr-onnxruntime"
TEXT_DETECTOR = ModelFile(
    name="ppocr-v4-text-detector", version="1.4.4", distribution=RAPIDOCR,
    path="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9")

# Tesseract's language data are Debian files, not a Python package: tessdata_fast's
# LSTM models (tag 4.1.0), the same bytes in Debian bookworm's tesseract-ocr-deu/-eng
# 1:4.1.0-2 and in 1:4.00~git30-7274cfa-1.1 (Debian bullseye, Ubuntu 22.04: the agent
# image; checked). The runner finds them in tesseract's tessdata folder and checks
# these checksums before its first reading, so a different or damaged file is named
# rather than read silently.
TESSDATA_VERSION = "4.1.0"
TESSDATA_SHA256 = {
    "deu": "19d219bbb6672c869d20a9636c6816a81eb9a71796cb93ebe0cb1530e2cdb22d",
    "eng": "7d4322bd2a7749724879683fc3912cb542f19906c83bcc1a52132556427170b2",
}
LANGUAGES = "deu+eng"

# A line seen at the end of one segment and at the start of the next, this close in
# time, is one line on screen cut by the boundary.
JOIN_GAP_S = 0.5


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def join_text(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One text result from those of consecutive video segments, in order: a line
    still on screen where a segment ends and seen again where the next begins (same
    text, within JOIN_GAP_S) becomes one line spanning both."""
    lines: list[dict[str, Any]] = []
    open_at_end: dict[str, dict[str, Any]] = {}
    for part in parts:
        reached: dict[str, dict[str, Any]] = {}
        for line in by_time(dicts(part.get("lines")), "start_s", "end_s"):
            key = _key(str(line.get("text", "")))
            earlier = open_at_end.pop(key, None)
            start, end = num(line.get("start_s")), num(line.get("end_s"))
            if earlier is not None and start is not None and end is not None and \
                    start - (num(earlier.get("end_s")) or 0.0) <= JOIN_GAP_S:
                earlier["end_s"] = max(num(earlier.get("end_s")) or 0.0, end)
                earlier["confidence"] = max(num(earlier.get("confidence")) or 0.0,
                                            num(line.get("confidence")) or 0.0)
                line = earlier
            else:
                line = dict(line)
                lines.append(line)
            if end is not None:
                reached[key] = line
        # Only lines lasting to the segment's last moments can continue in the next.
        last = max((num(x.get("end_s")) or 0.0 for x in reached.values()), default=0.0)
        open_at_end = {k: x for k, x in reached.items()
                       if last - (num(x.get("end_s")) or 0.0) <= JOIN_GAP_S}
    first = parts[0] if parts else {}
    return {"model": first.get("model"), "width": first.get("width"),
            "height": first.get("height"),
            "frames_analysed": sum(int(num(p.get("frames_analysed")) or 0) for p in parts),
            "lines": lines, "text": "\n".join(_key(str(x.get("text", ""))) for x in lines)}


def screen_text(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The text found, for the report: each line with its box and, on video, the time
    it is on screen; pictures keep the reading order the runner gave."""
    found = [{"text": line.get("text"), "box": line.get("box"),
              "confidence": line.get("confidence"),
              **{k: line[k] for k in ("start_s", "end_s") if k in line}}
             for line in dicts(result.get("lines")) if line.get("text")]
    return by_time(found, "start_s", "end_s") if any("start_s" in x for x in found) \
        else found


TEXT = AnalysisSpec(
    "text", frozenset({MediaType.VIDEO, MediaType.IMAGE}),
    "Text on screen and in pictures (OCR), German and English with umlauts and ß: "
    "each line with its box and, on video, the time it is on screen (keyframes only).",
    # Measured on this project's 2-core CPU: 0.5-1.5 s a picture; on video about 1 s
    # per media second where the picture changes at every sample (4 a second), far
    # less where only captions change (only keyframes are read).
    reference_s_per_unit=0.5, runner="agents.analyzers.text:read_text", default_on=False,
    models=(TEXT_DETECTOR,), merge=join_text,
    sections=(Section(Slot.TEXT, ("lines", "text"), screen_text),))
