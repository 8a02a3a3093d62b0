"""Helpers shared by test modules (``tests`` is on pytest's ``pythonpath``)."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def one_line(exc_type, fn, *words):
    """Call ``fn``, expect ``exc_type`` with a one-line message naming every one of ``words``."""
    with pytest.raises(exc_type) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


def count_complete(db: Path) -> int:
    """COMPLETE trials in an SQLite study file, read-only (0 before the schema exists)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch at one thread for the duration: tiny nets run as fast, and a busy machine's barrier waits
    cannot slow them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# A folder as users have them (PACS/VLCS-like): one image size (227 unless told), JPEG and PNG, grey
# images among colour ones, a class folder spelled differently in one domain, a domain lacking a class,
# domains of 3 to 10 images. Each class is a coloured shape, so a model can learn something.
USER_DOMAINS = {"photo": {"dog": 3, "giraffe": 3, "horse": 2, "person": 2},
                "cartoon": {"Dog": 2, "giraffe": 2, "horse": 2},  # 'Dog' for 'dog'; no 'person'
                "sketch": {"dog": 1, "giraffe": 1, "horse": 1}}


def _shape_image(cls: str, i: int, size: int, grey: bool):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([i, size, len(cls)])
    img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    k = sorted({"dog", "giraffe", "horse", "person"}).index(cls.lower())
    lo, hi = size // 4, 3 * size // 4
    colour = [(220, 40, 40), (230, 210, 30), (120, 70, 20), (40, 60, 230)][k]
    if k % 2 == 0:
        img[lo:hi, lo:hi] = colour
    else:
        img[:, lo:hi:max(1, size // 16)] = colour
    im = Image.fromarray(img)
    return im.convert("L") if grey else im


def make_user_folder(root: Path, size: int = 227) -> Path:
    """The folder described above under ``root`` (its name is the dataset's)."""
    for d, (domain, classes) in enumerate(USER_DOMAINS.items()):
        for cls, n in classes.items():
            (root / domain / cls).mkdir(parents=True)
            for i in range(n):
                grey = domain == "sketch" or (domain == "photo" and i == 0 and cls in ("dog", "horse"))
                ext = "jpg" if domain == "photo" else "png"
                _shape_image(cls, 10 * d + i, size, grey).save(root / domain / cls / f"{cls}_{i}.{ext}")
    return root


def cli_command(*args) -> list[str]:
    """``archscout ARGS`` as its own Python process (the installed package, or ``src`` on PYTHONPATH)."""
    import sys

    return [sys.executable, "-m", "archscout.cli", *map(str, args)]


def kill_9_when(cmd: list[str], path: Path, timeout: float = 120) -> None:
    """Start ``cmd``, wait until ``path`` exists (its first checkpoint), then SIGKILL it: a real kill, no
    callback, no clean-up. Fails unless the process was still running when killed."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} before {path} existed: {proc.communicate()[1]}"
        assert time.time() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"not killed: it had finished (exit {proc.returncode})"


def run_cli(cmd: list[str], timeout: float = 120):
    """``cmd`` to completion; its stdout (asserting exit 0)."""
    import subprocess

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Planted:
    """Pickles as ``open(target, "w")``: a checkpoint holding it would create ``target`` when loaded with
    ``weights_only=False`` (the stand-in for any code a crafted run folder could run)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def plant_checkpoint(path: Path, target: Path) -> None:
    """Overwrite the checkpoint at ``path`` with a crafted one (torch's zip format, a dict like ours)."""
    import torch

    torch.save({"history": [], "populations": Planted(target), "model": Planted(target)}, path)


def kill_and_resume(args: list[str], tmp_path: Path, epochs: int, final: str = "result.json") -> tuple[Path, Path]:
    """``args`` run uninterrupted in this process (``full/k``) and as a subprocess killed with SIGKILL at its
    first checkpoint (fewer than ``epochs`` done, no ``final`` file yet), then re-run (``killed/k``)."""
    import torch

    from archscout.cli import main

    assert main([*args, "--run-dir", str(tmp_path / "full"), "--name", "k"]) == 0  # uninterrupted
    killed = tmp_path / "killed" / "k"
    cmd = cli_command(*args, "--run-dir", tmp_path / "killed", "--name", "k")
    kill_9_when(cmd, killed / "checkpoint.pt")
    assert len(torch.load(killed / "checkpoint.pt", weights_only=True)["history"]) < epochs
    assert not (killed / final).exists()
    run_cli(cmd)  # the same command
    return killed, tmp_path / "full" / "k"
