"""devtools/convert_tfjs.py on a small TFJS graph model written here, with every kind of
node the CenterNet model has before its outputs: fused convolutions (bias + ReLU,
bias + ReLU6, bias only), a depthwise convolution with a channel multiplier, a plain
one with VALID padding, hard-swish arithmetic with scalar and per-channel constants,
squeeze-and-excite (Mean + broadcast Mul), TF's legacy bilinear resize by a
non-integer factor, concatenation; stride 2 with SAME padding on odd and even sizes.
ONNX Runtime on the converted graph must agree with the numpy reference of the TF ops
(devtools/tfjs_reference.py), and the weights must come back from their quantised
storage.
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

from devtools.convert_tfjs import check, convert, load_weights, same_pads
from devtools.tfjs_reference import run

INPUT = "net/images"
OUTPUT = "net/out"


def _attrs(op: str, strides: int = 1, padding: str = "SAME", fused: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "strides": {"list": {"i": ["1", str(strides), str(strides), "1"]}},
        "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
        "padding": {"s": base64.b64encode(padding.encode()).decode()}}
    if fused:
        attrs["fused_ops"] = {"list": {"s": [base64.b64encode(f.encode()).decode()
                                             for f in fused]}}
        attrs["num_args"] = {"i": "1"}
    return attrs


def _node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _graph() -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    weights = {
        "c1/w": rng.normal(0, 0.3, (3, 3, 3, 8)), "c1/b": rng.normal(0, 0.1, 8),
        "hs/three": np.array(3.0), "hs/sixth": np.array(1 / 6),
        "d1/w": rng.normal(0, 0.3, (3, 3, 8, 2)), "d1/b": rng.normal(0, 0.1, 16),
        "se/axes": np.array([1, 2], np.int32),
        "se/w": rng.normal(0, 0.3, (1, 1, 16, 16)), "se/b": rng.normal(0, 0.1, 16),
        "v/w": rng.normal(0, 0.3, (3, 3, 16, 1)),
        "size": np.array([6, 6], np.int32), "axis": np.array(3, np.int32),
        "shift": rng.normal(0, 1, 32),
        "p/w": rng.normal(0, 0.3, (1, 1, 32, 5)),
    }
    nodes = [_node(INPUT, "Placeholder", [])]
    nodes += [_node(name, "Const", []) for name in weights]
    nodes += [
        _node("c1", "_FusedConv2D", [INPUT, "c1/w", "c1/b"],
              **_attrs("Conv2D", 2, fused=("BiasAdd", "Relu"))),
        _node("hs/add", "Add", ["c1", "hs/three"]),
        _node("hs/relu6", "Relu6", ["hs/add"]),
        _node("hs/mul", "Mul", ["hs/sixth", "hs/relu6"]),
        _node("hs", "Mul", ["hs/mul", "c1"]),
        _node("d1", "FusedDepthwiseConv2dNative", ["hs", "d1/w", "d1/b"],
              **_attrs("Depthwise", fused=("BiasAdd", "Relu6"))),
        _node("se/mean", "Mean", ["d1", "se/axes"], keep_dims={"b": True}),
        _node("se/conv", "_FusedConv2D", ["se/mean", "se/w", "se/b"],
              **_attrs("Conv2D", fused=("BiasAdd",))),
        _node("se/gate", "Sigmoid", ["se/conv"]),
        _node("se", "Mul", ["d1", "se/gate"]),
        _node("v", "DepthwiseConv2dNative", ["se", "v/w"], **_attrs("Depthwise", padding="VALID")),
        _node("v/up", "ResizeBilinear", ["v", "size"], align_corners={"b": False},
              half_pixel_centers={"b": False}),
        _node("se/up", "ResizeBilinear", ["se", "size"], align_corners={"b": False},
              half_pixel_centers={"b": False}),
        _node("cat", "ConcatV2", ["v/up", "se/up", "axis"], N={"i": "2"}),
        _node("shifted", "Sub", ["cat", "shift"]),
        _node("p", "Conv2D", ["shifted", "p/w"], **_attrs("Conv2D")),
        _node(OUTPUT, "Identity", ["p"]),
    ]
    return nodes, weights


def _write_model(folder: Path, height: int, width: int) -> tuple[Path, dict[str, np.ndarray]]:
    """model.json + one shard: float weights stored float16, "shift" as affine uint8."""
    nodes, weights = _graph()
    entries, chunks = [], []
    for name, value in weights.items():
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape),
                                 "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if name == "shift":
            low, scale = float(value.min()), float(np.ptp(value)) / 255
            stored = np.round((value - low) / scale).astype(np.uint8)
            entry["quantization"] = {"dtype": "uint8", "min": low, "scale": scale}
        elif value.dtype == np.int32:
            stored = value
        else:
            stored = value.astype(np.float16)
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        entries.append(entry)
        chunks.append(stored.tobytes())
    (folder / "tiny.bin").write_bytes(b"".join(chunks))
    shape = {"dim": [{"size": str(v)} for v in (1, height, width, 3)]}
    spec = {"format": "graph-model", "modelTopology": {"node": nodes},
            "signature": {"inputs": {INPUT: {"name": INPUT, "tensorShape": shape}}},
            "weightsManifest": [{"paths": ["tiny.bin"], "weights": entries}]}
    model_json = folder / "tiny.json"
    model_json.write_text(json.dumps(spec))
    return model_json, weights


@pytest.mark.parametrize("size", [(11, 10), (12, 9)])
def test_onnx_runtime_agrees_with_the_numpy_reference(tmp_path, size):
    model_json, _ = _write_model(tmp_path, *size)
    onnx_path = tmp_path / "tiny.onnx"
    onnx_path.write_bytes(convert(model_json, (OUTPUT,)).SerializeToString())
    assert check(model_json, onnx_path, (OUTPUT,))[OUTPUT] < 1e-3
    # A batch of two, which the TFJS graph (batch 1) never had: each picture as alone.
    pictures = np.random.default_rng(5).uniform(0, 2, (2, *size, 3)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["out"], {"images": pictures})
    for picture, result in zip(pictures, got, strict=True):
        expected = run(model_json, {INPUT: picture[None]}, (OUTPUT,))[OUTPUT][0]
        assert result.shape == expected.shape == (6, 6, 5)
        assert np.abs(result - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())


def test_weights_come_back_from_their_quantised_storage(tmp_path):
    model_json, weights = _write_model(tmp_path, 11, 10)
    loaded = load_weights(model_json)
    assert loaded["c1/w"].dtype == np.float32 and loaded["se/axes"].dtype == np.int32
    assert np.allclose(loaded["c1/w"], weights["c1/w"], atol=1e-3)
    assert np.array_equal(loaded["size"], [6, 6])
    step = float(np.ptp(weights["shift"])) / 255
    assert np.abs(loaded["shift"] - weights["shift"]).max() <= step / 2 + 1e-6


def test_the_conversion_is_byte_reproducible(tmp_path):
    model_json, _ = _write_model(tmp_path, 11, 10)
    first = convert(model_json, (OUTPUT,)).SerializeToString()
    again = convert(model_json, (OUTPUT,)).SerializeToString()
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()


def test_same_padding_puts_the_odd_pixel_at_the_end():
    assert same_pads(5, 3, 2, 1) == (1, 1)
    assert same_pads(4, 3, 2, 1) == (0, 1)
    assert same_pads(512, 3, 1, 1) == (1, 1)
    assert same_pads(8, 1, 1, 1) == (0, 0)
