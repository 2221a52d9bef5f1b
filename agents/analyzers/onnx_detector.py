"""A registry object detector run by ONNX Runtime, in the YOLOv8 export format.

The model file speaks:
- one input, NCHW, RGB scaled 0..1, letterboxed (aspect kept, grey 114 padding) to the
  model's input size. Its element type is the model's business: float32, or float16 for
  an "fp16" model, which is then fed float16. An "int8" model is a quantized file
  (QDQ or integer ops inside) that still takes float input, so it runs like fp32.
- one output [N, 4 + classes, anchors]: cx, cy, w, h in input pixels, then one score
  per class (already sigmoid-ed, no separate objectness).

Registry config: "labels" (class names, default ["person"]), "score_threshold"
(default 0.25), "input_size" (int, or [height, width]) where the input shape is dynamic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from agents.analyzers.context import LoadedModel
from agents.analyzers.tracker import Detection

SCORE_THRESHOLD = 0.25
NMS_IOU = 0.45
MAX_DETECTIONS = 300  # per picture, as Ultralytics does: a crowd, not a grid of noise
DEFAULT_INPUT_SIZE = 640
_PAD_VALUE = 114  # the grey YOLO models were trained with around letterboxed pictures


@dataclass(frozen=True)
class Letterbox:
    """How a picture was fitted into the model input: input = original * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int
    width: int  # of the original picture
    height: int


class OnnxDetector:
    def __init__(
        self, model: LoadedModel, device: str = "cpu", precision: str = "fp32", batch_size: int = 1
    ) -> None:
        self.model = model
        self.precision = precision  # informative: the model file's input type decides
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(model.path), providers=providers)
        # ORT falls back to the CPU when the CUDA provider fails to load: report what runs.
        self.provider = self.session.get_providers()[0]
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        self.input_height, self.input_width = _input_size(model_input.shape, model.config)
        fixed_batch = model_input.shape[0]
        self._fixed_batch = fixed_batch if isinstance(fixed_batch, int) else None
        self.batch_size = self._fixed_batch or max(1, batch_size)
        self.labels: list[str] = list(model.config.get("labels") or ["person"])
        self.score_threshold = float(model.config.get("score_threshold", SCORE_THRESHOLD))

    @property
    def input_side(self) -> int:
        return max(self.input_width, self.input_height)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections per picture (RGB uint8, any size), boxes in that picture's pixels."""
        results: list[list[Detection]] = []
        for batch in _chunks(images, self.batch_size):
            tensors, boxes = zip(*(self.letterbox(image) for image in batch), strict=True)
            stacked = np.stack(tensors)
            if self._fixed_batch and len(batch) < self._fixed_batch:
                # A model exported for a fixed batch takes nothing else: pad with blanks.
                blank = np.zeros_like(stacked[:1])
                stacked = np.concatenate([stacked, *[blank] * (self._fixed_batch - len(batch))])
            output = self.session.run(None, {self._input_name: stacked})[0]
            output = self._channels_first(np.asarray(output, dtype=np.float32))
            results.extend(self._decode(output[i], box) for i, box in enumerate(boxes))
        return results

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The picture as one CHW input tensor, and how it was fitted in."""
        height, width = image.shape[:2]
        scale = min(self.input_width / width, self.input_height / height)
        new_w = max(1, round(width * scale))
        new_h = max(1, round(height * scale))
        shrink = scale < 1
        resized = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
        pad_x = (self.input_width - new_w) // 2
        pad_y = (self.input_height - new_h) // 2
        canvas = np.full((self.input_height, self.input_width, 3), _PAD_VALUE, dtype=np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        tensor = (canvas.transpose(2, 0, 1) / 255.0).astype(self.input_dtype)
        return tensor, Letterbox(scale, pad_x, pad_y, width, height)

    def _channels_first(self, output: np.ndarray) -> np.ndarray:
        """[N, 4 + C, anchors] as specified; an export with anchors first is told apart by
        the class count the registry gave."""
        rows = 4 + len(self.labels)
        if output.shape[1] != rows and output.shape[2] == rows:
            return output.transpose(0, 2, 1)
        return output

    def _decode(self, prediction: np.ndarray, fit: Letterbox) -> list[Detection]:
        scores = prediction[4:].T  # (anchors, classes)
        classes = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), classes]
        keep = confidence >= self.score_threshold
        if not keep.any():
            return []
        cx, cy, w, h = prediction[:4, keep]
        classes, confidence = classes[keep], confidence[keep]
        # Back through the letterbox, then clipped to the picture.
        x0 = np.clip((cx - w / 2 - fit.pad_x) / fit.scale, 0, fit.width)
        y0 = np.clip((cy - h / 2 - fit.pad_y) / fit.scale, 0, fit.height)
        x1 = np.clip((cx + w / 2 - fit.pad_x) / fit.scale, 0, fit.width)
        y1 = np.clip((cy + h / 2 - fit.pad_y) / fit.scale, 0, fit.height)
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        kept = cv2.dnn.NMSBoxesBatched(
            boxes.tolist(), confidence.tolist(), classes.tolist(),
            self.score_threshold, NMS_IOU, top_k=MAX_DETECTIONS,
        )
        detections = []
        for index in np.asarray(kept, dtype=int).reshape(-1):
            x, y, bw, bh = (float(v) for v in boxes[index])
            detections.append(
                Detection(self._label(int(classes[index])), float(confidence[index]),
                          (x, y, bw, bh), source="onnx")
            )
        detections.sort(key=lambda d: -d.score)
        return detections

    def _label(self, class_index: int) -> str:
        if class_index < len(self.labels):
            return self.labels[class_index]
        return f"class{class_index}"


def _input_size(shape: Sequence[object], config: dict[str, object]) -> tuple[int, int]:
    """(height, width) from an NCHW input shape, else from the registry config."""
    height, width = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return height, width
    size = config.get("input_size", DEFAULT_INPUT_SIZE)
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"input_size must be an int or [height, width], not {size!r}")


def _chunks(items: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
