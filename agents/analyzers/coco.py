"""Objects of the 80 COCO classes (people among them) found by AIMA's converted
NanoDet-g (aima_tasks.kernel.analyses.coco.COCO_DETECTOR).

The model file (devtools/convert_tfjs.py) keeps the TFJS graph's layout:
- input ``input_1`` [N, 3, 416, 416]: BGR, normalised by NanoDet's mean and standard
  deviation, letterboxed here (aspect kept, centred, padded with the mean colour);
- per stride 8, 16, 32 (52x52, 26x26, 13x13 cells, row by row) class scores
  [N, cells, 80], already sigmoid-ed (``Identity``, ``Identity_1``, ``Identity_2``), and
  box sides [N, cells, 44] (``Identity_3``, ``Identity_4``, ``Identity_5``): for the left,
  top, right and bottom side 11 logits over a distance of 0..10 strides from the cell's
  centre (Generalized Focal Loss: the distance is the softmax's expectation).
Boxes of a class scoring over the threshold in any cell are merged by a per-class NMS.
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

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
SCORES = ("Identity", "Identity_1", "Identity_2")  # per stride
SIDES = ("Identity_3", "Identity_4", "Identity_5")
BINS = 11  # distance bins per box side: 0..10 strides
# NanoDet's training normalisation, in BGR order.
MEAN = np.array([103.53, 116.28, 123.675], np.float32)
STD = np.array([57.375, 57.12, 58.395], np.float32)
# Measured on tests/analyzers/photos.py and their mirror images: every person there
# scores 0.51 or more, while person boxes on the photographs without people reach 0.37
# (potted plants); objects of other classes that are not there reach 0.52 (a pen as
# scissors, a kiwi as a bowl), those that are score 0.5-0.7 (a ball, the cat, a table).
SCORE_THRESHOLD = 0.45
NMS_IOU = 0.5
MAX_DETECTIONS = 100  # per picture


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
            outputs = self.session.run([*SCORES, *SIDES], {"input_1": np.stack(tensors)})
            results.extend(self._decode([o[i] for o in outputs[:3]], [o[i] for o in outputs[3:]],
                                        fit) for i, fit in enumerate(fits))
        return results

    def _decode(self, scores: list[np.ndarray], sides: list[np.ndarray],
                fit: _Fit) -> list[Detection]:
        boxes, best, classes = [], [], []
        for level_scores, level_sides, stride in zip(scores, sides, STRIDES, strict=True):
            cells, found = np.nonzero(level_scores >= self.score_threshold)
            if not len(cells):
                continue
            logits = level_sides[cells].reshape(-1, 4, BINS)
            odds = np.exp(logits - logits.max(axis=2, keepdims=True))
            distance = (odds / odds.sum(axis=2, keepdims=True)) @ np.arange(BINS) * stride
            columns = INPUT_SIZE // stride
            centre_x = (cells % columns + 0.5) * stride - fit.pad_x
            centre_y = (cells // columns + 0.5) * stride - fit.pad_y
            x0 = np.clip((centre_x - distance[:, 0]) / fit.scale, 0, fit.width)
            y0 = np.clip((centre_y - distance[:, 1]) / fit.scale, 0, fit.height)
            x1 = np.clip((centre_x + distance[:, 2]) / fit.scale, 0, fit.width)
            y1 = np.clip((centre_y + distance[:, 3]) / fit.scale, 0, fit.height)
            boxes.append(np.stack([x0, y0, x1 - x0, y1 - y0], axis=1))
            best.append(level_scores[cells, found])
            classes.append(found)
        if not boxes:
            return []
        box, score, label = np.concatenate(boxes), np.concatenate(best), np.concatenate(classes)
        kept = cv2.dnn.NMSBoxesBatched(box.tolist(), score.astype(float).tolist(),
                                       label.tolist(), self.score_threshold, NMS_IOU,
                                       top_k=MAX_DETECTIONS)
        detections = [
            Detection(COCO_LABELS[int(label[i])], float(score[i]),
                      tuple(float(v) for v in box[i]), source="coco")  # type: ignore[arg-type]
            for i in np.asarray(kept, dtype=int).reshape(-1) if box[i, 2] > 0 and box[i, 3] > 0
        ]
        detections.sort(key=lambda d: -d.score)
        return detections


def letterbox(image: np.ndarray) -> tuple[np.ndarray, _Fit]:
    """The picture as one NCHW input (normalised BGR), and how it was fitted in."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = image.shape[:2]
    scale = min(INPUT_SIZE / width, INPUT_SIZE / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    # Area averaging when shrinking: a frame of 1920 pixels sampled bilinearly aliases.
    resized = cv2.resize(image, (new_w, new_h),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
    # The padding is the mean colour: zero after normalisation, as NanoDet pads.
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = (
        resized[..., ::-1].astype(np.float32) - MEAN) / STD
    return canvas.transpose(2, 0, 1), _Fit(scale, pad_x, pad_y, width, height)


def _chunks(items: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
