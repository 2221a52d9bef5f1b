"""devtools/convert_tfjs.py on a small TFJS graph model written here the way onnx-tf
writes NanoDet's: NCHW tensors with Transposes around each TF convolution and pooling,
explicit Pad before them (PadV2 with -inf before the max pooling), the bias as an Add,
LeakyReLU, a half-pixel bilinear resize, concatenation on channels, a SplitV whose
second output is used, Sigmoid, and Reshapes whose shape is constant arithmetic
(AddV2 of a SparseToDense). ONNX Runtime on the converted graph must agree with the
numpy reference of the TF ops (devtools/tfjs_reference.py), also for a batch the TF
graph never had, and the weights must come back from their quantised storage.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from devtools.convert_tfjs import check, convert, load_weights
from devtools.tfjs_reference import run

INPUT = "input_1"
OUTPUTS = ("out_a", "out_b")
TO_NHWC, TO_NCHW = "perm/nhwc", "perm/nchw"


def _window(op: str, size: int, stride: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "padding": {"s": base64.b64encode(b"VALID").decode()}}
    if op == "MaxPool":
        attrs["ksize"] = {"list": {"i": ["1", str(size), str(size), "1"]}}
    else:
        attrs["dilations"] = {"list": {"i": ["1", "1", "1", "1"]}}
    return attrs


def _node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _nhwc(name: str, op: str, x: str, *extra: str, size: int = 1, stride: int = 1
          ) -> list[dict[str, Any]]:
    """x (NCHW) -> Transpose -> the NHWC op -> Transpose back, as onnx-tf writes it."""
    return [_node(f"{name}/in", "Transpose", [x, TO_NHWC]),
            _node(f"{name}/op", op, [f"{name}/in", *extra], **_window(op, size, stride)),
            _node(name, "Transpose", [f"{name}/op", TO_NCHW])]


def _graph() -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    weights = {
        TO_NHWC: np.array([0, 2, 3, 1], np.int32), TO_NCHW: np.array([0, 3, 1, 2], np.int32),
        "pads": np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32),
        "minus_inf": np.array(-np.inf, np.float32),
        "c1/w": rng.normal(0, 0.3, (3, 3, 3, 8)), "c1/b": rng.normal(0, 0.1, 8),
        "size": np.array([6, 5], np.int32), "axis": np.array(1, np.int32),
        "c2/w": rng.normal(0, 0.3, (1, 1, 16, 10)), "shift": rng.normal(0, 1, 10),
        "parts": np.array([4, 6], np.int32), "split_axis": np.array(1, np.int32),
        "shape_a": np.array([1, 4, -1], np.int32), "shape_b": np.array([1, 6, -1], np.int32),
        "where": np.zeros((0, 1), np.int64), "three": np.array([3], np.int32),
        "nothing": np.zeros(0, np.int32), "zero": np.array(0, np.int32),
        "perm/cells": np.array([0, 2, 1], np.int32),
    }
    nodes = [_node(INPUT, "Placeholder", [])]
    nodes += [_node(name, "Const", []) for name in weights]
    nodes += [_node("pad1", "Pad", [INPUT, "pads"]),
              *_nhwc("c1", "Conv2D", "pad1", "c1/w", size=3, stride=2),
              _node("c1/bias", "Add", ["c1/op", "c1/b"])]
    nodes[-2]["input"][0] = "c1/bias"  # the bias is added in NHWC, before going back
    nodes += [_node("act", "LeakyRelu", ["c1"], alpha={"f": 0.1}),
              _node("pad2", "PadV2", ["act", "pads", "minus_inf"]),
              *_nhwc("pool", "MaxPool", "pad2", size=3, stride=2),
              _node("up/in", "Transpose", ["pool", TO_NHWC]),
              _node("up/op", "ResizeBilinear", ["up/in", "size"], align_corners={"b": False},
                    half_pixel_centers={"b": True}),
              _node("up", "Transpose", ["up/op", TO_NCHW]),
              _node("cat", "ConcatV2", ["act", "up", "axis"], N={"i": "2"}),
              *_nhwc("c2", "Conv2D", "cat", "c2/w"),
              _node("c2/shifted", "AddV2", ["c2/op", "shift"])]
    nodes[-2]["input"][0] = "c2/shifted"
    nodes += [_node("split", "SplitV", ["c2", "parts", "split_axis"], num_split={"i": "2"}),
              _node("scores", "Sigmoid", ["split"]),
              _node("zeros", "SparseToDense", ["where", "three", "nothing", "zero"]),
              _node("shape_a/full", "AddV2", ["shape_a", "zeros"]),
              _node("shape_b/full", "AddV2", ["shape_b", "zeros"]),
              _node("flat_a", "Reshape", ["scores", "shape_a/full"]),
              _node("flat_b", "Reshape", ["split:1", "shape_b/full"]),
              _node("cells_a", "Transpose", ["flat_a", "perm/cells"]),
              _node("cells_b", "Transpose", ["flat_b", "perm/cells"]),
              _node("out_a", "Identity", ["cells_a"]), _node("out_b", "Identity", ["cells_b"])]
    return nodes, weights


def _write_model(folder: Path, height: int, width: int) -> tuple[Path, dict[str, np.ndarray]]:
    """model.json + one shard: float weights stored float16, "shift" as affine uint8."""
    nodes, weights = _graph()
    entries, chunks = [], []
    for name, value in weights.items():
        integer = value.dtype.kind == "i"
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape),
                                 "dtype": str(value.dtype) if integer else "float32"}
        if name == "shift":
            low, scale = float(value.min()), float(np.ptp(value)) / 255
            stored = np.round((value - low) / scale).astype(np.uint8)
            entry["quantization"] = {"dtype": "uint8", "min": low, "scale": scale}
        elif integer or name == "minus_inf":
            stored = value
        else:
            stored = value.astype(np.float16)
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        entries.append(entry)
        chunks.append(stored.tobytes())
    (folder / "tiny.bin").write_bytes(b"".join(chunks))
    cells = ((height - 1) // 2 + 1) * ((width - 1) // 2 + 1)  # padded by 1, 3x3 stride 2
    spec = {"format": "graph-model", "modelTopology": {"node": nodes},
            "signature": {"inputs": {f"{INPUT}:0": _signature((1, 3, height, width))},
                          "outputs": {"out_a:0": _signature((1, cells, 4)),
                                      "out_b:0": _signature((1, cells, 6))}},
            "weightsManifest": [{"paths": ["tiny.bin"], "weights": entries}]}
    model_json = folder / "tiny.json"
    model_json.write_text(json.dumps(spec))
    return model_json, weights


def _signature(shape: tuple[int, ...]) -> dict[str, Any]:
    return {"tensorShape": {"dim": [{"size": str(v)} for v in shape]}}


@pytest.mark.parametrize("size", [(11, 10), (12, 9)])
def test_onnx_runtime_agrees_with_the_numpy_reference(tmp_path, size):
    model_json, _ = _write_model(tmp_path, *size)
    onnx_path = tmp_path / "tiny.onnx"
    onnx_path.write_bytes(convert(model_json, OUTPUTS).SerializeToString())
    assert max(check(model_json, onnx_path, OUTPUTS).values()) < 1e-4
    # A batch of two, which the TFJS graph (batch 1) never had: each picture as alone.
    pictures = np.random.default_rng(5).normal(0, 1, (2, 3, *size)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUTS), {INPUT: pictures})
    for index, picture in enumerate(pictures):
        expected = run(model_json, {INPUT: picture[None]}, OUTPUTS)
        for name, result in zip(OUTPUTS, got, strict=True):
            assert result[index].shape == expected[name][0].shape
            assert np.abs(result[index] - expected[name][0]).max() < 1e-4


def test_weights_come_back_from_their_quantised_storage(tmp_path):
    model_json, weights = _write_model(tmp_path, 11, 10)
    loaded = load_weights(model_json)
    assert loaded["c1/w"].dtype == np.float32 and loaded["pads"].dtype == np.int32
    assert np.allclose(loaded["c1/w"], weights["c1/w"], atol=1e-3)
    assert np.array_equal(loaded["size"], [6, 5])
    step = float(np.ptp(weights["shift"])) / 255
    assert np.abs(loaded["shift"] - weights["shift"]).max() <= step / 2 + 1e-6


def test_the_conversion_is_byte_reproducible(tmp_path):
    model_json, _ = _write_model(tmp_path, 11, 10)
    first = convert(model_json, OUTPUTS).SerializeToString()
    again = convert(model_json, OUTPUTS).SerializeToString()
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()
