"""The ONNX Runtime detector on a tiny YOLOv8-layout model built here with onnx.helper.

The model sees a 64x64 picture as a 4x4 grid of 16-pixel cells. Per cell, "person"
scores high where the cell is bright and "car" where it is dark (mid grey: neither).
Each cell has two anchors, like two heads of a real model: a 16x16 box and a 20x20 box
around the cell centre, the second with a slightly lower score, so every find comes
twice and only NMS makes it one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.onnx_detector import OnnxDetector
from agents.analyzers.people import detect_image, track_video
from agents.samples import video_encoder

SIDE, CELL = 64, 16
GRID = SIDE // CELL
LABELS = ["person", "car"]
GREY = 128


def build_tiny_detector(
    path: Path, fp16: bool = False, batch: int | str = "N", side: int | str = SIDE
) -> Path:
    sharpness = 20.0  # sigmoid(20 * (brightness - threshold)): ~0 or ~1 for clear cells
    weight = np.zeros((2, 3, 1, 1), dtype=np.float32)
    weight[0] = sharpness / 3  # person: mean brightness above 0.6
    weight[1] = -sharpness / 3  # car: mean brightness below 0.3
    bias = np.array([-0.6 * sharpness, 0.3 * sharpness], dtype=np.float32)
    centres = (np.arange(GRID) + 0.5) * CELL
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.zeros((1, 4, 2 * GRID * GRID), dtype=np.float32)
    for head, size in enumerate((16.0, 20.0)):
        cells = slice(head * GRID * GRID, (head + 1) * GRID * GRID)
        boxes[0, 0, cells], boxes[0, 1, cells] = cx.ravel(), cy.ravel()
        boxes[0, 2, cells] = boxes[0, 3, cells] = size
    element = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT)
        if fp16
        else helper.make_node("Identity", ["images"], ["x"]),
        helper.make_node("AveragePool", ["x"], ["cells"], kernel_shape=[CELL, CELL],
                         strides=[CELL, CELL]),
        helper.make_node("Conv", ["cells", "weight", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["grid_scores"]),
        helper.make_node("Reshape", ["grid_scores", "flat_shape"], ["head_a"]),
        helper.make_node("Mul", ["head_a", "second_head"], ["head_b"]),
        helper.make_node("Concat", ["head_a", "head_b"], ["scores"], axis=2),
        # Boxes are constants: add them to a zero of the batch's shape to broadcast.
        helper.make_node("Slice", ["scores", "zero", "one", "one"], ["first_class"]),
        helper.make_node("Mul", ["first_class", "nothing"], ["zeros"]),
        helper.make_node("Add", ["zeros", "anchor_boxes"], ["boxes"]),
        helper.make_node("Concat", ["boxes", "scores"], ["raw"], axis=1),
        helper.make_node("Cast", ["raw"], ["output0"], to=TensorProto.FLOAT16)
        if fp16
        else helper.make_node("Identity", ["raw"], ["output0"]),
    ]
    constants = {
        "weight": weight,
        "bias": bias,
        "flat_shape": np.array([0, 2, GRID * GRID], dtype=np.int64),
        "second_head": np.array(0.9, dtype=np.float32),
        "zero": np.array([0], dtype=np.int64),
        "one": np.array([1], dtype=np.int64),
        "nothing": np.array(0.0, dtype=np.float32),
        "anchor_boxes": boxes,
    }
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", element, [batch, 3, side, side])],
        [helper.make_tensor_value_info("output0", element, [batch, 4 + len(LABELS), 32])],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def loaded(path: Path, **config) -> LoadedModel:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedModel("tiny-yolo", "1", digest, path, {"labels": LABELS, **config})


def picture(width: int = 200, height: int = 100, white=None, black=None) -> np.ndarray:
    """Mid grey, with optional white and black squares given as (x, y, side)."""
    image = np.full((height, width, 3), GREY, dtype=np.uint8)
    for square, value in ((white, 255), (black, 0)):
        if square is not None:
            x, y, side = square
            image[y : y + side, x : x + side] = value
    return image


# A 200x100 picture fits the 64x64 input at scale 0.32 with 16 grey rows above and
# below: the 50x50 square at (50, 50) fills the input cell at column 1, row 2 exactly.
WHITE_AT = (50, 50, 50)
BLACK_AT = (150, 0, 50)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return build_tiny_detector(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def test_finds_the_bright_square_through_the_letterbox(model_path):
    detector = OnnxDetector(loaded(model_path), "cpu", "fp32", 1)
    assert (detector.input_width, detector.input_height) == (SIDE, SIDE)
    [found] = detector.detect([picture(white=WHITE_AT, black=BLACK_AT)])
    labels = sorted(d.label for d in found)
    assert labels == ["car", "person"]
    person = next(d for d in found if d.label == "person")
    assert person.source == "onnx" and person.score > 0.99
    assert np.allclose(person.box, (50, 50, 50, 50), atol=1.0)
    car = next(d for d in found if d.label == "car")
    assert np.allclose(car.box, (150, 0, 50, 50), atol=1.0)


def test_nms_collapses_the_duplicate_anchor(model_path):
    detector = OnnxDetector(loaded(model_path), "cpu", "fp32", 1)
    image = picture(white=WHITE_AT)
    tensor, _ = detector.letterbox(image)
    raw = detector.session.run(None, {"images": tensor[None]})[0][0]
    above = (raw[4] >= detector.score_threshold).sum()
    assert above == 2  # the 16x16 and the 20x20 anchor of the same cell
    [found] = detector.detect([image])
    assert len(found) == 1 and found[0].box[2] == pytest.approx(50, abs=1)


def test_grey_picture_and_letterbox_padding_find_nothing(model_path):
    detector = OnnxDetector(loaded(model_path), "cpu", "fp32", 1)
    assert detector.detect([picture(), picture(30, 300)]) == [[], []]


def test_fp16_model_is_fed_float16(model_path, tmp_path):
    half = build_tiny_detector(tmp_path / "tiny16.onnx", fp16=True)
    detector = OnnxDetector(loaded(half), "cpu", "fp16", 1)
    assert detector.input_dtype == np.float16
    [found] = detector.detect([picture(white=WHITE_AT)])
    [reference] = OnnxDetector(loaded(model_path), "cpu", "fp32", 1).detect(
        [picture(white=WHITE_AT)]
    )
    assert [d.label for d in found] == ["person"]
    assert np.allclose(found[0].box, reference[0].box, atol=0.5)
    assert found[0].score == pytest.approx(reference[0].score, abs=1e-2)


class CountingSession:
    """Passes calls through to the real session, counting runs and batch sizes."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.batches: list[int] = []

    def run(self, outputs, feed):
        self.batches.append(next(iter(feed.values())).shape[0])
        return self.session.run(outputs, feed)


def three_pictures() -> list[np.ndarray]:
    return [
        picture(white=WHITE_AT),
        picture(120, 240, white=(0, 0, 60), black=(60, 180, 60)),
        picture(64, 64, white=(48, 48, 16)),
    ]


def test_batches_give_the_same_results_as_one_by_one(model_path):
    one = OnnxDetector(loaded(model_path), "cpu", "fp32", 1)
    two = OnnxDetector(loaded(model_path), "cpu", "fp32", 2)
    two.session = CountingSession(two.session)
    singly = one.detect(three_pictures())
    batched = two.detect(three_pictures())
    assert two.session.batches == [2, 1]
    assert [len(found) for found in singly] == [1, 2, 1]
    for together, alone in zip(batched, singly, strict=True):
        assert [d.label for d in together] == [d.label for d in alone]
        for a, b in zip(together, alone, strict=True):
            assert np.allclose(a.box, b.box, atol=1e-3)
            assert a.score == pytest.approx(b.score, abs=1e-4)


def test_fixed_batch_model_runs_one_at_a_time(tmp_path):
    fixed = build_tiny_detector(tmp_path / "fixed.onnx", batch=1)
    detector = OnnxDetector(loaded(fixed), "cpu", "fp32", 4)
    detector.session = CountingSession(detector.session)
    found = detector.detect(three_pictures())
    assert detector.session.batches == [1, 1, 1]
    assert [len(f) for f in found] == [1, 2, 1]


def test_dynamic_input_size_comes_from_the_config(tmp_path):
    dynamic = build_tiny_detector(tmp_path / "dynamic.onnx", side="size")
    detector = OnnxDetector(loaded(dynamic, input_size=SIDE), "cpu", "fp32", 1)
    assert (detector.input_width, detector.input_height) == (SIDE, SIDE)
    [found] = detector.detect([picture(white=WHITE_AT)])
    assert np.allclose(found[0].box, (50, 50, 50, 50), atol=1.0)


def test_runs_on_the_cpu_provider_here(model_path):
    detector = OnnxDetector(loaded(model_path), "cuda", "fp32", 1)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    assert detector.provider == "CPUExecutionProvider"


def test_detect_image_uses_the_registry_model(model_path, tmp_path):
    # 1600x800: detect_image works on an 800x400 copy and scales the boxes back.
    big = Image.fromarray(picture(white=WHITE_AT, black=BLACK_AT)).resize(
        (1600, 800), Image.Resampling.NEAREST
    )
    big.save(tmp_path / "squares.png")
    ctx = AnalysisContext(model=loaded(model_path))
    result = detect_image(tmp_path / "squares.png", ctx)
    assert result["detector"]["name"] == "tiny-yolo"
    assert result["detector"]["provider"] == "CPUExecutionProvider"
    assert (result["width"], result["height"]) == (1600, 800)
    assert {d["source"] for d in result["detections"]} == {"onnx"}
    assert result["person_count"] == 1
    person = next(d for d in result["detections"] if d["label"] == "person")
    assert np.allclose(person["box"], [400, 400, 400, 400], atol=8)
    assert any(d["label"] == "car" for d in result["detections"])


def test_track_video_uses_the_registry_model_in_batches(model_path, tmp_path):
    path = tmp_path / "square.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(video_encoder(), rate=25)
        stream.width, stream.height, stream.pix_fmt = 200, 100, "yuv420p"
        still = picture(white=WHITE_AT, black=BLACK_AT)
        for index in range(50):
            frame = av.VideoFrame.from_ndarray(still, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    ctx = AnalysisContext(model=loaded(model_path), batch_size=4)
    result = track_video(path, ctx)
    assert result["frames_analysed"] == 10
    # The car is detected too, but only people are tracked.
    assert result["track_count"] == 1
    [track] = result["tracks"]
    assert track["samples"] == 10 and track["label"] == "person"
    assert np.allclose(track["boxes"][0]["box"], [50, 50, 50, 50], atol=2)
