"""Export resemblyzer's speaker encoder (pretrained.pt) to ONNX without torch.

    .venv/bin/python -m devtools.export_voice_encoder [--weights PT] [-o OUT.onnx]

resemblyzer 0.1.4 (Apache-2.0) ships its weights in torch's legacy serialization: five
pickles in a row (magic number, protocol version, system info, the checkpoint with
persistent ids for its storages, the storage keys), then every storage's raw bytes,
each after an 8-byte element count. A small unpickler reads that into numpy arrays, so
torch is never needed. The graph is built with the ``onnx`` package:

    mels [batch, frames, 40] -> 3-layer LSTM (hidden 256) -> last hidden state of the top
    layer -> Linear 256 -> ReLU -> L2 normalisation -> embedding [batch, 256]

as resemblyzer's VoiceEncoder.forward computes it. The export is checked against a
plain numpy forward of the same weights, and its SHA-256 is printed (pin it in
aima_tasks/kernel/analyses/diarization.py and agents/models/PROVENANCE.md). The output
is byte-for-byte reproducible: no timestamps, fixed names, fixed opset.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import struct
from collections import OrderedDict
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 256
N_MELS = 40
LAYERS = 3
OPSET = 17
_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
           "IntStorage": np.int32, "HalfStorage": np.float16}


class _Storage:
    """A storage named by the checkpoint; its bytes follow the pickles."""

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype
        self.data: np.ndarray | None = None


class _Tensor:
    """A tensor view of a storage, resolved once the storages' bytes are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...],
                 stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        assert self.storage.data is not None
        item = self.storage.data.itemsize
        return np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset:], shape=self.size,
            strides=tuple(s * item for s in self.stride)).copy()


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> _Tensor:
    return _Tensor(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name  # the storage type, as a name
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> Any:
        # ("storage", type, key, location, numel[, view metadata])
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type])
        return self.storages[key]


def load_legacy(path: Path) -> dict[str, np.ndarray]:
    """The model_state of a legacy torch checkpoint, as float32 numpy arrays."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as file:
        if pickle.load(file) != _MAGIC:
            raise ValueError(f"{path} is not a legacy torch checkpoint")
        pickle.load(file)  # protocol version
        pickle.load(file)  # system info (endianness, type sizes)
        checkpoint = _Unpickler(file, storages).load()
        for key in pickle.load(file):
            storage = storages[key]
            (count,) = struct.unpack("<q", file.read(8))
            size = count * np.dtype(storage.dtype).itemsize
            storage.data = np.frombuffer(file.read(size), dtype=storage.dtype)
    state = checkpoint["model_state"]
    return {name: tensor.array().astype(np.float32) for name, tensor in state.items()
            if isinstance(tensor, _Tensor)}


def _onnx_gates(matrix: np.ndarray) -> np.ndarray:
    """torch orders an LSTM's gates i, f, g, o; ONNX i, o, f, c (c is torch's g)."""
    i, f, g, o = np.split(matrix, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def build_graph(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    inits = []
    nodes = [helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2])]  # time first
    for layer in range(LAYERS):
        w = _onnx_gates(weights[f"lstm.weight_ih_l{layer}"])[None]
        r = _onnx_gates(weights[f"lstm.weight_hh_l{layer}"])[None]
        b = np.concatenate([_onnx_gates(weights[f"lstm.bias_ih_l{layer}"]),
                            _onnx_gates(weights[f"lstm.bias_hh_l{layer}"])])[None]
        inits += [numpy_helper.from_array(w, f"W{layer}"), numpy_helper.from_array(r, f"R{layer}"),
                  numpy_helper.from_array(b, f"B{layer}")]
        nodes.append(helper.make_node(
            "LSTM", [f"x{layer}", f"W{layer}", f"R{layer}", f"B{layer}"],
            [f"y{layer}", f"h{layer}"], hidden_size=HIDDEN))
        # Y is [time, directions=1, batch, hidden]: the next layer takes [time, batch, hidden].
        inits.append(numpy_helper.from_array(np.array([1], np.int64), f"axis{layer}"))
        nodes.append(helper.make_node("Squeeze", [f"y{layer}", f"axis{layer}"],
                                      [f"x{layer + 1}"]))
    inits += [numpy_helper.from_array(np.array([0], np.int64), "axis_dir"),
              numpy_helper.from_array(weights["linear.weight"], "linear_w"),
              numpy_helper.from_array(weights["linear.bias"], "linear_b")]
    nodes += [
        helper.make_node("Squeeze", [f"h{LAYERS - 1}", "axis_dir"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "linear_w", "linear_b"], ["raw"], transB=1),
        helper.make_node("Relu", ["raw"], ["positive"]),
        helper.make_node("LpNormalization", ["positive"], ["embedding"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes, "resemblyzer_voice_encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", HIDDEN])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="aima devtools.export_voice_encoder")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def numpy_forward(weights: dict[str, np.ndarray], mels: np.ndarray) -> np.ndarray:
    """resemblyzer's forward in plain numpy (torch's gate order), float64."""
    x = mels.astype(np.float64)
    batch, frames, _ = x.shape
    for layer in range(LAYERS):
        w_ih = weights[f"lstm.weight_ih_l{layer}"].astype(np.float64)
        w_hh = weights[f"lstm.weight_hh_l{layer}"].astype(np.float64)
        bias = (weights[f"lstm.bias_ih_l{layer}"] + weights[f"lstm.bias_hh_l{layer}"]).astype(
            np.float64)
        h = np.zeros((batch, HIDDEN))
        c = np.zeros((batch, HIDDEN))
        out = np.empty((batch, frames, HIDDEN))
        for t in range(frames):
            gates = x[:, t] @ w_ih.T + h @ w_hh.T + bias
            i, f, g, o = np.split(gates, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            out[:, t] = h
        x = out
    raw = np.maximum(x[:, -1] @ weights["linear.weight"].T + weights["linear.bias"], 0.0)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    spec = find_spec("resemblyzer")
    default = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt" if spec else None
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=default)
    parser.add_argument("-o", "--output", type=Path,
                        default=Path("agents/models/voice_encoder.onnx"))
    args = parser.parse_args()
    if args.weights is None:
        parser.error("resemblyzer is not installed: name its pretrained.pt with --weights")
    weights = load_legacy(args.weights)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_graph(weights), args.output)

    import onnxruntime as ort  # only for the check

    session = ort.InferenceSession(str(args.output), providers=["CPUExecutionProvider"])
    mels = np.random.default_rng(0).random((3, 160, N_MELS), dtype=np.float32)
    got = session.run(None, {"mels": mels})[0]
    diff = float(np.abs(got - numpy_forward(weights, mels)).max())
    print(f"weights {args.weights} sha256 {sha256(args.weights)}")
    print(f"onnx    {args.output} sha256 {sha256(args.output)} "
          f"({args.output.stat().st_size} bytes)")
    print(f"max |onnx - numpy| over 3 random 1.6 s inputs: {diff:.2e}")
    if diff > 1e-4:
        raise SystemExit("the export does not match the numpy forward")


if __name__ == "__main__":
    main()
