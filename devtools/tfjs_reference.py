"""A plain numpy run of a TFJS graph model's TensorFlow ops, in TF's own NHWC layout,
float64: the reference devtools/convert_tfjs.py's ONNX output is checked against.

It shares nothing with the converter but the weight reader: convolutions are sums over
the kernel's taps of shifted slices, SAME padding is worked out from TF's definition,
the legacy bilinear resize samples at ``out * in / out_size``. Only the ops the
converter handles (and the model needs up to the requested outputs) are implemented.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from devtools.convert_tfjs import _attr, _needed, _source, load_weights


def _pad_same(x: np.ndarray, kernel: tuple[int, int], stride: list[int],
              dilation: list[int]) -> np.ndarray:
    pads = []
    for size, k, s, d in zip(x.shape[1:3], kernel, stride, dilation, strict=True):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def conv(x: np.ndarray, kernel: np.ndarray, node: dict[str, Any], depthwise: bool) -> np.ndarray:
    """TF's Conv2D (kernel HWIO) or DepthwiseConv2dNative (kernel H W C M), NHWC."""
    stride, dilation = _attr(node, "strides")[1:3], _attr(node, "dilations")[1:3]
    kh, kw = kernel.shape[:2]
    if _attr(node, "padding") == "SAME":
        x = _pad_same(x, (kh, kw), stride, dilation)
    out_h = (x.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (x.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    total = None
    for i in range(kh):
        for j in range(kw):
            tap = x[:, i * dilation[0]:i * dilation[0] + (out_h - 1) * stride[0] + 1:stride[0],
                    j * dilation[1]:j * dilation[1] + (out_w - 1) * stride[1] + 1:stride[1]]
            if depthwise:  # channel c, multiplier m -> output channel c * M + m
                part = (tap[..., :, None] * kernel[i, j]).reshape(*tap.shape[:3], -1)
            else:
                part = tap @ kernel[i, j]
            total = part if total is None else total + part
    assert total is not None
    return total


def resize_bilinear(x: np.ndarray, size: np.ndarray) -> np.ndarray:
    """TF's ResizeBilinear without align_corners or half-pixel centres."""
    out = x
    for axis, (old, new) in enumerate(zip(x.shape[1:3], (int(v) for v in size),
                                          strict=True), start=1):
        where = np.arange(new) * (old / new)
        low = np.floor(where).astype(int)
        high = np.minimum(low + 1, old - 1)
        frac = (where - low).reshape([-1 if a == axis else 1 for a in range(4)])
        out = np.take(out, low, axis=axis) * (1 - frac) + np.take(out, high, axis=axis) * frac
    return out


_ACTIVATION = {
    "Relu": lambda v: np.maximum(v, 0),
    "Relu6": lambda v: np.clip(v, 0, 6),
    "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
}


def _run_node(node: dict[str, Any], args: list[np.ndarray]) -> np.ndarray:
    op = node["op"]
    if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        out = conv(args[0], args[1], node, depthwise="Depthwise" in op)
        for fused in _attr(node, "fused_ops") or []:
            out = out + args[2] if fused == "BiasAdd" else _ACTIVATION[fused](out)
        return out
    if op in _ACTIVATION:
        return _ACTIVATION[op](args[0])
    binary = {"Add": np.add, "AddV2": np.add, "Mul": np.multiply, "Sub": np.subtract}
    if op in binary:
        return binary[op](args[0], args[1])
    if op == "Identity":
        return args[0]
    if op == "Mean":
        return args[0].mean(axis=tuple(int(a) for a in args[1].ravel()),
                            keepdims=bool(_attr(node, "keep_dims")))
    if op == "ConcatV2":
        return np.concatenate(args[:-1], axis=int(args[-1]))
    if op == "ResizeBilinear":
        return resize_bilinear(args[0], args[1])
    raise NotImplementedError(f"{node['name']}: op {op} has no numpy reference")


def run(model_json: Path, inputs: dict[str, np.ndarray],
        outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The outputs of the graph for these NHWC inputs, computed op by op in float64."""
    nodes = {node["name"]: node for node in json.loads(model_json.read_text())
             ["modelTopology"]["node"]}
    values: dict[str, np.ndarray] = {
        name: value.astype(np.float64) if value.dtype.kind == "f" else value
        for name, value in load_weights(model_json).items()}
    values.update({name: value.astype(np.float64) for name, value in inputs.items()})
    for name in _needed(nodes, outputs):
        node = nodes[name]
        if node["op"] not in ("Const", "Placeholder"):
            values[name] = _run_node(node, [values[_source(i)] for i in node.get("input", [])
                                            if not i.startswith("^")])
    return {name: values[name] for name in outputs}
