"""Objects of the 80 COCO classes (people among them) found by AIMA's converted
MobileNetV3 CenterNet (aima_tasks.kernel.analyses.coco.COCO_DETECTOR).

The model file (devtools/convert_tfjs.py) speaks TFJS's layout:
- input ``images`` [N, 512, 512, 3]: RGB, 0..255 as float, letterboxed (aspect kept,
  centred, black padding), as the upstream project feeds it;
- outputs ``keypoints`` [N, 128, 128, 80]: per class a heatmap of object centres, one
  cell per 4 input pixels, already sigmoid-ed; ``wh`` [N, 128, 128, 4]: per cell the
  distances from the centre to the box's left, top, right and bottom edges, in input
  pixels.
An object is a heatmap cell that is the maximum of its 3x3 neighbourhood (CenterNet's
"NMS by max pooling", done here in numpy as the TFJS graph did after these outputs);
near-duplicate peaks of one object in adjacent cells are then merged by a per-class NMS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from agents.analyzers.context import LoadedModel
from agents.analyzers.tracker import Detection
from aima_tasks.kernel.analyses.coco import COCO_LABELS

INPUT_SIZE = 512
STRIDE = 4  # input pixels per heatmap cell
# Measured on tests/analyzers/photos.py: every person there scores 0.36 or more (the
# man at basketball2's edge, seen from behind, 0.36), while no person-labelled peak on
# the photographs without people reaches 0.2; objects of other classes that are
# really there (a cup, a cat, birds) score 0.4-0.65.
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.4  # as the Human library runs this model
MAX_DETECTIONS = 100  # per picture, as the original graph's top-k


@dataclass(frozen=True)
class _Fit:
    """How a picture was fitted into the input: input = original * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int


class CocoDetector:
    def __init__(self, model: LoadedModel, device: str = "cpu", batch_size: int = 1,
                 score_threshold: float = SCORE_THRESHOLD) -> None:
        self.model = model
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(model.path), providers=providers)
        # ORT falls back to the CPU when the CUDA provider fails to load: report what runs.
        self.provider = self.session.get_providers()[0]
        self.batch_size = max(1, batch_size)
        self.score_threshold = score_threshold

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections per picture (RGB uint8, any size), boxes in that picture's pixels,
        most confident first."""
        results: list[list[Detection]] = []
        for batch in _chunks(images, self.batch_size):
            tensors, fits = zip(*(letterbox(image) for image in batch), strict=True)
            heatmaps, extents = self.session.run(["keypoints", "wh"],
                                                 {"images": np.stack(tensors)})
            results.extend(self._decode(heatmaps[i], extents[i], fit)
                           for i, fit in enumerate(fits))
        return results

    def _decode(self, heatmap: np.ndarray, extents: np.ndarray, fit: _Fit) -> list[Detection]:
        rows, cols, classes = np.nonzero(
            (heatmap == _max_3x3(heatmap)) & (heatmap >= self.score_threshold))
        scores = heatmap[rows, cols, classes]
        best = np.argsort(-scores, kind="stable")[:MAX_DETECTIONS]
        rows, cols, classes, scores = rows[best], cols[best], classes[best], scores[best]
        left, top, right, bottom = extents[rows, cols].T
        x0 = np.clip((cols * STRIDE - left - fit.pad_x) / fit.scale, 0, fit.width)
        y0 = np.clip((rows * STRIDE - top - fit.pad_y) / fit.scale, 0, fit.height)
        x1 = np.clip((cols * STRIDE + right - fit.pad_x) / fit.scale, 0, fit.width)
        y1 = np.clip((rows * STRIDE + bottom - fit.pad_y) / fit.scale, 0, fit.height)
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(float)
        if not len(boxes):
            return []
        kept = cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.astype(float).tolist(),
                                       classes.tolist(), self.score_threshold, NMS_IOU)
        detections = [
            Detection(COCO_LABELS[int(classes[i])], float(scores[i]),
                      tuple(float(v) for v in boxes[i]), source="coco")  # type: ignore[arg-type]
            for i in np.asarray(kept, dtype=int).reshape(-1) if boxes[i, 2] > 0 and boxes[i, 3] > 0
        ]
        detections.sort(key=lambda d: -d.score)
        return detections


def letterbox(image: np.ndarray) -> tuple[np.ndarray, _Fit]:
    """The picture as one NHWC input (float 0..255), and how it was fitted in."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = image.shape[:2]
    scale = min(INPUT_SIZE / width, INPUT_SIZE / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    # Area averaging when shrinking: a frame of 1920 pixels sampled bilinearly aliases.
    resized = cv2.resize(image, (new_w, new_h),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    return canvas, _Fit(scale, pad_x, pad_y, width, height)


def _max_3x3(heatmap: np.ndarray) -> np.ndarray:
    """Each cell's maximum over its 3x3 neighbourhood (edges padded with -inf), per class."""
    padded = np.pad(heatmap, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    rows, cols = heatmap.shape[:2]
    return np.max([padded[dy:dy + rows, dx:dx + cols] for dy in range(3) for dx in range(3)],
                  axis=0)


def _chunks(items: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
