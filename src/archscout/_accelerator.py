"""The compute device of training and search (``--accelerator``) and its numeric precision
(``--precision``). Apart from ``--device``, the hardware whose latency is budgeted.

Models are built and seeded on the CPU and then moved, and every random draw of a run (batch order,
augmentation, sampling) comes from CPU generators: the same seed gives the same data stream on every
accelerator, and ``cpu`` gives exactly the results of a CPU-only install. Checkpoints hold CPU tensors,
so a run resumes on another accelerator (float sums, hence results, then differ slightly).

torch is imported inside the functions: the CLI imports this module to build its options, and a
command that does not compute (``hw query``, ``--help``) should not pay for loading torch.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archscout.exceptions import ArchscoutError

if TYPE_CHECKING:
    import torch

ACCELERATORS = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")


def check_accelerator(name: Any) -> str:
    """``name`` if it is a valid accelerator spelling (not whether it is present), else a one-line error."""
    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise ArchscoutError(f"unknown accelerator {name!r}; choose from: {', '.join(ACCELERATORS)}")
    return name


def check_precision(name: Any) -> str:
    if name not in PRECISIONS:
        raise ArchscoutError(f"unknown precision {name!r}; choose from: {', '.join(PRECISIONS)}")
    return name


def _mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve(name: str = "auto") -> "torch.device":
    """The torch device of ``name``: ``auto`` is CUDA if available, then MPS, else the CPU. One asked
    for and absent is a one-line error."""
    import torch

    check_accelerator(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ArchscoutError("accelerator 'mps' is not available here (no Apple GPU or torch without MPS); "
                                 "use --accelerator cpu or auto")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ArchscoutError(f"accelerator {name!r} is not available here (torch {torch.__version__} sees no CUDA "
                             "GPU); use --accelerator cpu or auto, or install a CUDA build of torch")
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise ArchscoutError(f"accelerator {name!r} is not available here: {torch.cuda.device_count()} CUDA "
                             f"device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def autocast(device: "torch.device", precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward passes (fp32: nothing)."""
    import torch

    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: "torch.device", precision: str) -> "torch.amp.GradScaler":
    """A loss scaler, enabled for fp16 only (bf16 and fp32 need none)."""
    import torch

    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def describe(device: "torch.device", precision: str = "fp32") -> dict[str, Any]:
    """What a result records of its compute: accelerator, its name, torch and CUDA versions, precision."""
    import torch

    name = "cpu"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        name = "Apple MPS"
    return {"accelerator": str(device), "name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "precision": precision}


@contextlib.contextmanager
def fast_math(device: "torch.device") -> Iterator[None]:
    """cuDNN's autotuner on CUDA for the duration (fixed input shapes; nothing changes on the CPU)."""
    import torch

    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda" or old
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def sum_dtype(device: "torch.device") -> "torch.dtype":
    """float64 for sums read by the host (as Python floats sum); float32 on MPS, which has no float64."""
    import torch

    return torch.float32 if device.type == "mps" else torch.float64


class RunningStats:
    """An epoch's loss and accuracy summed on the device, read once at its end (no host synchronisation
    per step). Loss sums in float64, as Python floats sum (float32 on MPS, which has no float64)."""

    def __init__(self, device: "torch.device"):
        import torch

        self.loss = torch.zeros((), dtype=sum_dtype(device), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0

    def add(self, loss: "torch.Tensor | float", correct: "torch.Tensor | int", n: int) -> None:
        """A step: its mean ``loss`` over ``n`` images and its ``correct`` count (tensors or numbers)."""
        import torch

        if isinstance(loss, torch.Tensor):
            loss = loss.detach().to(self.loss.dtype)
        self.loss = self.loss + loss * n
        self.correct = self.correct + correct
        self.seen += n

    def mean_loss(self) -> float:
        return float(self.loss) / self.seen

    def accuracy(self) -> float:
        """Percent correct."""
        return 100.0 * int(self.correct) / self.seen
