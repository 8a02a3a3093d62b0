"""ONNX export of a trained model, and its verification: ONNX Runtime's outputs against PyTorch's on
real images.

The exported graph takes what ``load_model`` takes, images in [0, 1] of shape (batch, C, H, W) with
the normalization inside, and returns logits; the batch axis is dynamic.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archscout.exceptions import ArchscoutError
from archscout._io import atomic_write

OPSET = 17
TOLERANCE = 1e-4
INPUT, OUTPUT = "images", "logits"


class OnnxMismatchError(ArchscoutError):
    """The ONNX model's outputs differ from the PyTorch model's by more than the tolerance."""


@dataclass
class OnnxCheck:
    """What a verification measured: the largest absolute difference of the logits, the tolerance,
    the share of images whose predicted class agrees, and which images were used."""

    path: str
    max_abs_diff: float
    tolerance: float
    passed: bool
    argmax_agreement: float
    images: int
    batch_shape: list[int]
    data: str
    opset: int
    onnxruntime: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int = OPSET) -> bytes:
    """The model as an ONNX graph (TorchScript exporter: no onnxscript needed), batch axis dynamic."""
    was_training = model.training
    model.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(model, (example[:1],), buf, dynamo=False, opset_version=opset,
                              input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    except Exception as exc:  # noqa: BLE001  (any exporter failure is reported on one line)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ArchscoutError(f"ONNX export failed: {type(exc).__name__}: {first}") from None
    finally:
        model.train(was_training)
    return buf.getvalue()


def export_onnx(model: nn.Module, path: str | Path, example: torch.Tensor, opset: int = OPSET) -> Path:
    """Write the model to ``path`` (atomically) as ONNX; ``example`` is a batch of valid inputs."""
    path = Path(path)
    return atomic_write(path, onnx_bytes(model, example, opset))


def onnx_outputs(path: str | Path, x: torch.Tensor) -> np.ndarray:
    """ONNX Runtime's output (CPU, one thread, sequential) for ``x``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArchscoutError("ONNX verification needs onnxruntime: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise ArchscoutError(f"{path} is not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
    return sess.run(None, {sess.get_inputs()[0].name: x.detach().numpy().astype(np.float32)})[0]


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Max absolute difference and predicted-class agreement of two logit arrays; NaN or a shape
    mismatch counts as a failure."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if reference.shape != candidate.shape:
        return {"max_abs_diff": float("inf"), "argmax_agreement": 0.0, "passed": False}
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    worst = float(diff.max()) if diff.size else 0.0
    if not np.isfinite(diff).all():
        worst = float("inf")
    agree = float((reference.argmax(-1) == candidate.argmax(-1)).mean()) if reference.size else 1.0
    return {"max_abs_diff": worst, "argmax_agreement": agree, "passed": bool(worst <= tolerance)}


def verify_onnx(model: nn.Module, path: str | Path, x: torch.Tensor, *, tolerance: float = TOLERANCE,
                data: str = "", raise_on_mismatch: bool = True) -> OnnxCheck:
    """Run ``x`` through the PyTorch model (eval mode) and the ONNX file; a max absolute difference of
    the logits above ``tolerance`` raises ``OnnxMismatchError`` (or only marks the check failed)."""
    import onnxruntime as ort

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = model(x).detach().numpy()
    finally:
        model.train(was_training)
    got = onnx_outputs(path, x)
    cmp = compare_outputs(ref, got, tolerance)
    check = OnnxCheck(path=str(path), max_abs_diff=cmp["max_abs_diff"], tolerance=tolerance, passed=cmp["passed"],
                      argmax_agreement=cmp["argmax_agreement"], images=int(x.shape[0]), batch_shape=list(x.shape),
                      data=data, opset=OPSET, onnxruntime=ort.__version__)
    if raise_on_mismatch and not check.passed:
        raise OnnxMismatchError(f"ONNX model {path} differs from the PyTorch model: max abs diff "
                                f"{check.max_abs_diff:.3g} > {tolerance:g} on {check.images} images "
                                f"({data or 'given'})")
    return check
