"""Image sources, offline: Fashion-MNIST from its four idx files (Debian's ``dataset-fashion-mnist``
or any folder), checksum-verified, and scikit-learn's bundled digits for fast tests."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from archscout.data._domains import DatasetError

FASHION_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_ENV = "ARCHSCOUT_FASHION_MNIST"  # a folder with the idx files, overriding the default
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
# SHA-256 of the uncompressed idx files (the same whether a folder holds them gzipped or raw)
FASHION_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
HOW_TO_GET = (f"install the Debian package (apt-get install dataset-fashion-mnist, into {FASHION_DEFAULT_DIR}) "
              f"or point --data-root / {FASHION_ENV} to a folder with the four idx files (gzipped or raw)")

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, name: str = "idx file") -> np.ndarray:
    """The array stored in idx bytes (LeCun's format: zero, zero, type, ndim, big-endian dims, data)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{name} is not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{name} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    need = header + math.prod(dims) * dtype.itemsize
    if len(raw) != need:
        what = "truncated" if len(raw) < need else "longer than its header says"
        raise DatasetError(f"{name} is {what}: dims {dims} need {need} bytes, the file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path} ({exc}); the file looks corrupted: {HOW_TO_GET}") from None


def fashion_dir(root: str | Path | None = None) -> Path:
    """The folder to read Fashion-MNIST from: ``root``, else ``$ARCHSCOUT_FASHION_MNIST``, else Debian's."""
    return Path(root or os.environ.get(FASHION_ENV) or FASHION_DEFAULT_DIR).expanduser()


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(f"Fashion-MNIST file {stem}[.gz] not found in {folder}: {HOW_TO_GET}")


def load_fashion_mnist(root: str | Path | None = None, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 Fashion-MNIST images (uint8, 28x28; the 60,000 training images first) and labels."""
    folder = fashion_dir(root)
    paths = {stem: _find(folder, stem) for stem in FASHION_FILES}
    stamp = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths.values())
    return _load_fashion(stamp, verify)


@lru_cache(maxsize=2)
def _load_fashion(stamp: tuple, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    arrays = {}
    for (path_s, _, _), (stem, digest) in zip(stamp, FASHION_FILES.items()):
        path = Path(path_s)
        raw = _read(path)
        if verify and hashlib.sha256(raw).hexdigest() != digest:
            raise DatasetError(f"{path} does not match Fashion-MNIST's checksum (corrupted or another "
                               f"dataset): {HOW_TO_GET}")
        arrays[stem] = parse_idx(raw, str(path))
    images = np.concatenate([arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]])
    labels = np.concatenate([arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]])
    if images.ndim != 3 or len(images) != len(labels) or labels.max() >= len(FASHION_CLASSES):
        raise DatasetError(f"Fashion-MNIST files in {Path(stamp[0][0]).parent} are inconsistent: "
                           f"{images.shape} images, {labels.shape} labels")
    labels = labels.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 1,797 handwritten digits (uint8 8x8, rescaled from 0..16 to 0..255)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images, labels = np.round(d.images * (255.0 / 16.0)).astype(np.uint8), d.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


DIGITS_CLASSES = tuple(str(i) for i in range(10))
