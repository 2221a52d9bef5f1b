"""A GPU's raw speed, measured through ONNX Runtime: FP32 and FP16 matrix
multiply throughput (TFLOPS) and memory bandwidth (GB/s).

On a GPU with ONNX Runtime's CUDA provider (``onnxruntime-gpu``) the data
stays on the device (I/O binding), so host copies do not count; without it
the figures are the CPU's, and say so (``device: cpu``).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

CUDA = "CUDAExecutionProvider"
# Sizes that keep the whole benchmark to seconds: a GPU needs bigger work to
# reach its peak than a CPU does in that time.
MATMUL_N = {"cuda": 8192, "cpu": 1024}
ADD_ELEMENTS = {"cuda": 64 * 1024 * 1024, "cpu": 8 * 1024 * 1024}
REPEAT = 5
# What the graphs are written as: old enough for any ONNX Runtime the agent
# may find (1.31 reads up to IR 13; onnx 1.23 writes 14 by default).
OPSET = 17
IR_VERSION = 10


@dataclass(frozen=True)
class ComputeProfile:
    device: str  # "cuda" or "cpu": where the figures were measured
    fp32_tflops: float
    fp16_tflops: float
    memory_gb_per_s: float

    def to_report(self) -> dict:
        return asdict(self)


def device() -> str:
    return "cuda" if CUDA in ort.get_available_providers() else "cpu"


def measure(repeat: int = REPEAT, on: str | None = None) -> ComputeProfile:
    """Time the three kernels on ``on`` (default: the GPU when ONNX Runtime can
    use it; the process's CUDA_VISIBLE_DEVICES says which)."""
    where = on or device()
    n = MATMUL_N[where]
    flops = 2.0 * n ** 3
    fp32 = flops / timed(matmul_model(TensorProto.FLOAT), [np.float32] * 2, (n, n), where,
                         repeat)
    fp16 = flops / timed(matmul_model(TensorProto.FLOAT16), [np.float16] * 2, (n, n), where,
                         repeat)
    elements = ADD_ELEMENTS[where]
    # An add reads two vectors and writes one.
    moved = 3 * 4 * elements
    bandwidth = moved / timed(add_model(), [np.float32] * 2, (elements,), where, repeat)
    return ComputeProfile(device=where, fp32_tflops=round(fp32 / 1e12, 3),
                          fp16_tflops=round(fp16 / 1e12, 3),
                          memory_gb_per_s=round(bandwidth / 1e9, 1))


def matmul_model(dtype: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
        [helper.make_tensor_value_info(name, dtype, ["n", "n"]) for name in ("a", "b")],
        [helper.make_tensor_value_info("c", dtype, ["n", "n"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             ir_version=IR_VERSION)


def add_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])], "add",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"]) for name in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["n"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             ir_version=IR_VERSION)


def timed(model: onnx.ModelProto, dtypes: list[type], shape: tuple[int, ...], where: str,
          repeat: int) -> float:
    """Median seconds of one run, inputs and output bound on ``where``."""
    providers = [CUDA] if where == "cuda" else ["CPUExecutionProvider"]
    if where == "cuda":
        # The CUDA libraries came from pip (nvidia-* wheels), off the loader's path.
        ort.preload_dlls()
    session = ort.InferenceSession(model.SerializeToString(), providers=providers)
    binding = session.io_binding()
    rng = np.random.default_rng(0)
    for name, dtype in zip(("a", "b"), dtypes, strict=True):
        data = rng.standard_normal(shape).astype(dtype)
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(data, where, 0))
    binding.bind_output("c", where)
    session.run_with_iobinding(binding)  # warm-up: kernels chosen, memory allocated
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    """``python -m agents.compute``: the profile of the GPU this process sees, as JSON
    (the agent runs it once per GPU, pinned with CUDA_VISIBLE_DEVICES)."""
    print(json.dumps(measure().to_report()))


if __name__ == "__main__":
    main()
