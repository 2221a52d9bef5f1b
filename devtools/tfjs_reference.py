"""A plain numpy run of a TFJS graph model's TensorFlow ops, in TF's own layouts,
float64: the reference devtools/convert_tfjs.py's ONNX output is checked against.

It shares nothing with the converter but the weight reader and the folding of constant
shape arithmetic: convolutions are sums over the kernel's taps of shifted slices, max
pooling a maximum over the window's taps, the bilinear resize samples where TF's
definition says. Only the ops the converter handles are implemented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from devtools.convert_tfjs import _attr, _needed, _source, fold, load_weights, tensor


def _taps(x: np.ndarray, kernel: tuple[int, int], stride: list[int],
          dilation: list[int]) -> list[tuple[int, int, np.ndarray]]:
    """For each kernel position, the NHWC input pixels it meets (VALID padding)."""
    kh, kw = kernel
    out_h = (x.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (x.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return [(i, j, x[:, i * dilation[0]:i * dilation[0] + (out_h - 1) * stride[0] + 1:stride[0],
                     j * dilation[1]:j * dilation[1] + (out_w - 1) * stride[1] + 1:stride[1]])
            for i in range(kh) for j in range(kw)]


def conv(x: np.ndarray, kernel: np.ndarray, node: dict[str, Any]) -> np.ndarray:
    """TF's Conv2D, NHWC, kernel HWIO, VALID padding."""
    taps = _taps(x, kernel.shape[:2], _attr(node, "strides")[1:3], _attr(node, "dilations")[1:3])
    return np.sum([tap @ kernel[i, j] for i, j, tap in taps], axis=0)


def max_pool(x: np.ndarray, node: dict[str, Any]) -> np.ndarray:
    ksize = _attr(node, "ksize")[1:3]
    taps = _taps(x, (ksize[0], ksize[1]), _attr(node, "strides")[1:3], [1, 1])
    return np.max([tap for _, _, tap in taps], axis=0)


def resize_bilinear(x: np.ndarray, size: np.ndarray, half_pixel: bool) -> np.ndarray:
    """TF's ResizeBilinear of an NHWC tensor, without align_corners."""
    out = x
    for axis, (old, new) in enumerate(zip(x.shape[1:3], (int(v) for v in size),
                                          strict=True), start=1):
        if half_pixel:
            where = np.maximum((np.arange(new) + 0.5) * (old / new) - 0.5, 0)
        else:
            where = np.arange(new) * (old / new)
        low = np.minimum(np.floor(where).astype(int), old - 1)
        high = np.minimum(low + 1, old - 1)
        frac = (where - low).reshape([-1 if a == axis else 1 for a in range(4)])
        out = np.take(out, low, axis=axis) * (1 - frac) + np.take(out, high, axis=axis) * frac
    return out


def _run_node(node: dict[str, Any], args: list[np.ndarray]) -> list[np.ndarray]:
    op = node["op"]
    if op == "Conv2D":
        return [conv(args[0], args[1], node)]
    if op == "MaxPool":
        return [max_pool(args[0], node)]
    if op == "ResizeBilinear":
        return [resize_bilinear(args[0], args[1], bool(_attr(node, "half_pixel_centers")))]
    if op in ("Pad", "PadV2"):
        fill = float(args[2]) if len(args) > 2 else 0.0
        return [np.pad(args[0], args[1].astype(int), constant_values=fill)]
    if op == "SplitV":
        cuts = np.cumsum(args[1].astype(int))[:-1]
        return np.split(args[0], cuts, axis=int(args[2]))
    simple = {
        "Add": lambda: args[0] + args[1], "AddV2": lambda: args[0] + args[1],
        "LeakyRelu": lambda: np.where(args[0] > 0, args[0], args[0] * _attr(node, "alpha")),
        "Sigmoid": lambda: 1 / (1 + np.exp(-args[0])),
        "Identity": lambda: args[0],
        "Transpose": lambda: args[0].transpose(args[1].astype(int)),
        "ConcatV2": lambda: np.concatenate(args[:-1], axis=int(args[-1])),
        "Reshape": lambda: args[0].reshape(args[1].astype(int)),
    }
    if op in simple:
        return [simple[op]()]
    raise NotImplementedError(f"{node['name']}: op {op} has no numpy reference")


def run(model_json: Path, inputs: dict[str, np.ndarray],
        outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The outputs of the graph for these inputs (batch 1), computed op by op in float64."""
    nodes = {node["name"]: node for node in json.loads(model_json.read_text())
             ["modelTopology"]["node"]}
    values: dict[str, np.ndarray] = {
        name: value.astype(np.float64) if value.dtype.kind == "f" else value
        for name, value in load_weights(model_json).items()}
    values.update({name: value.astype(np.float64) for name, value in inputs.items()})
    constants = set(values) - set(inputs)
    for name in _needed(nodes, outputs):
        node = nodes[name]
        if node["op"] in ("Const", "Placeholder"):
            continue
        sources = [_source(i) for i in node.get("input", []) if not i.startswith("^")]
        args = [values[tensor(i)] for i in node.get("input", []) if not i.startswith("^")]
        if sources and all(s in constants for s in sources):
            folded = fold(node, args)
            if folded is None:
                raise NotImplementedError(f"{name}: op {node['op']} on constants")
            values[name] = folded
            constants.add(name)
            continue
        for index, value in enumerate(_run_node(node, args)):
            values[name if index == 0 else f"{name}:{index}"] = value
    return {name: values[name] for name in outputs}
