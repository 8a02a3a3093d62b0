"""Real-world datasets in DomainBed's folder layout, ``root/<domain>/<class>/<image>`` (PACS, VLCS,
OfficeHome, TerraIncognita, NICO or any folder laid out so), decoded with PIL into domains, with
leave-one-domain-out splits (``lodo-<domain>``) and user-given ones (``train=[...], test=[...]``).

Scanning lists files only; loading decodes the domains of one split. Like DomainBed, every domain
must hold the same classes (a missing class is an error unless ``allow_missing_classes``): class
indices are the positions in the sorted union of class folder names, the same in every domain.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archscout.data._domains import DatasetError, Domain, DomainData, Split
from archscout.exceptions import UnknownNameError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
MODES = {"L": 1, "RGB": 3, "RGBA": 4}  # the channel modes images are converted to
JUNK = {"thumbs.db", "desktop.ini"}  # skipped, like dot files (.DS_Store)
# DomainBed's datasets, recognized by folder name (case, '_' and '+' aside): their domains, or None
# where the layout has no fixed list (NICO / NICO++)
KNOWN_DATASETS: dict[str, tuple[str, ...] | None] = {
    "PACS": ("art_painting", "cartoon", "photo", "sketch"),
    "VLCS": ("Caltech101", "LabelMe", "SUN09", "VOC2007"),
    "OfficeHome": ("Art", "Clipart", "Product", "Real World"),
    "TerraIncognita": ("location_100", "location_38", "location_43", "location_46"),
    "NICO": None,
}
LAYOUT = "root/<domain>/<class>/<image>"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def known_dataset(name: str) -> str | None:
    """The canonical name of a DomainBed dataset (``office_home`` -> ``OfficeHome``), else None."""
    return next((k for k in KNOWN_DATASETS if _norm(k) == _norm(name)), None)


def known_folder(name: str, data_dir: str | Path) -> Path:
    """A known dataset's folder: the subfolder of ``data_dir`` named like it (DomainBed's ``data_dir``
    layout: ``office_home`` for OfficeHome), else ``data_dir`` itself."""
    data_dir = Path(data_dir).expanduser()
    if data_dir.is_dir() and _norm(data_dir.name) != _norm(name):
        for sub in _subdirs(data_dir):
            if _norm(sub) == _norm(name):
                return data_dir / sub
    return data_dir


def _subdirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    """The image files under a class folder (recursively, sorted); any other file is an error."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith(".") or f.lower() in JUNK:
                continue
            path = Path(dirpath) / f
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise DatasetError(f"{path} is not an image (accepted: {', '.join(IMAGE_EXTENSIONS)}): move it out "
                                   f"of the dataset folder")
            out.append(path)
    return out


def _check_known(root: Path, name: str, domains: list[str]) -> str:
    """The dataset's name: a known dataset (by folder name or by its exact domains) must have its domains."""
    if name not in KNOWN_DATASETS:
        found_set = {_norm(d) for d in domains}
        return next((k for k, v in KNOWN_DATASETS.items() if v and {_norm(d) for d in v} == found_set), name)
    expected = KNOWN_DATASETS[name]
    if expected is None:
        return name
    found, want = {_norm(d): d for d in domains}, {_norm(d): d for d in expected}
    missing = [d for k, d in want.items() if k not in found]
    extra = [d for k, d in found.items() if k not in want]
    if missing or extra:
        what = (f"lacks domain folder(s) {', '.join(missing)}" if missing
                else f"has unexpected folder(s) {', '.join(extra)}")
        raise DatasetError(f"{name} folder {root} {what}: {name}'s domains are {', '.join(expected)}; found "
                           f"{', '.join(domains) or 'none'} (layout {LAYOUT})")
    return name


def _subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices at random, stratified: each class keeps its share (within one image)."""
    key = np.empty(len(labels))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        key[rng.permutation(idx)] = (np.arange(len(idx)) + rng.random()) / len(idx)
    return np.sort(np.argsort(key, kind="stable")[:n])


def _natural_mode(im: Any) -> str:
    """The channel mode an image has as decoded: grey, colour, or either with alpha (as RGBA)."""
    if "A" in im.getbands() or "transparency" in im.info:
        return "RGBA"
    return "L" if im.mode in ("1", "L", "I", "F") or im.mode.startswith("I;") else "RGB"


def _decode(path: Path, mode: str | None, size: int | None, ref: dict[str, Any]) -> np.ndarray:
    """One image as uint8 (H, W, C); ``ref`` (the first image's mode and size) checks the rest."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            natural = _natural_mode(im)
            ref.setdefault("file", path)
            ref.setdefault("mode", mode or natural)
            if mode is None and natural != ref["mode"]:
                raise DatasetError(f"image {path} has {MODES[natural]} channel(s) ({im.mode}) but {ref['file']} "
                                   f"has {MODES[ref['mode']]} ({ref['mode']}): pass mode='RGB' (or 'L', 'RGBA') "
                                   f"/ --image-mode to convert every image")
            im = im.convert(ref["mode"]) if im.mode != ref["mode"] else im
            if size is not None:
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)  # PIL antialiases when shrinking
            elif im.size != ref.setdefault("size", im.size):
                raise DatasetError(f"image {path} is {im.size[0]}x{im.size[1]} but {ref['file']} is "
                                   f"{ref['size'][0]}x{ref['size'][1]}: pass size=N / --image-size N to resize "
                                   f"every image to N x N")
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        msg = " ".join(str(exc).split())
        raise DatasetError(f"cannot decode image {path} ({type(exc).__name__}: {msg}): replace or remove "
                           f"it") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


@dataclass(frozen=True)
class FolderDataset:
    """A scanned folder: its domains, classes and image files (``files[domain]`` holds (path, label)
    pairs); nothing is decoded until :meth:`load`."""

    root: Path
    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[tuple[Path, int], ...]]

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def known(self) -> bool:
        return self.name in KNOWN_DATASETS

    @property
    def splits(self) -> dict[str, Split]:
        """Leave-one-domain-out: ``lodo-<domain>`` trains on every other domain."""
        return {f"lodo-{d}": Split(f"lodo-{d}", tuple(o for o in self.domains if o != d), (d,),
                                   f"leave-one-domain-out: {d} held out") for d in self.domains}

    def _domain_names(self, names: str | Sequence[str]) -> tuple[str, ...]:
        names = (names,) if isinstance(names, str) else tuple(names)
        for d in names:
            if d not in self.files:
                raise UnknownNameError(f"domain of {self.name}", d, self.files)
        return names

    def split(self, name: str | Split | None = None, *, train: str | Sequence[str] | None = None,
              test: str | Sequence[str] | None = None) -> Split:
        """A named split (``lodo-<domain>``), a :class:`Split`, or one from ``train``/``test`` domains
        (either may be left out: it is then every other domain)."""
        if train is not None or test is not None:
            if name is not None:
                raise DatasetError(f"give a split name ({name!r}) or train=/test= domains, not both")
            tr = self._domain_names(train) if train is not None else ()
            te = self._domain_names(test) if test is not None else ()
            tr = tr or tuple(d for d in self.domains if d not in te)
            te = te or tuple(d for d in self.domains if d not in tr)
            return Split(f"train-{'+'.join(tr)}-test-{'+'.join(te)}", tr, te, "user-given domains")
        if isinstance(name, Split):
            self._domain_names(name.train + name.test)
            return name
        if name is None:
            raise DatasetError(f"{self.name}: give a split (one of {', '.join(self.splits)}) or train=/test= domains")
        try:
            return self.splits[name]
        except KeyError:
            raise UnknownNameError(f"split of {self.name}", name, self.splits) from None

    def load(self, split: str | Split | None = None, *, train: str | Sequence[str] | None = None,
             test: str | Sequence[str] | None = None, size: int | None = None, mode: str | None = None,
             per_domain: int | None = None, seed: int = 0) -> DomainData:
        """Decode the domains of a split into tensors (N, C, H, W) in [0, 1].

        ``size`` resizes every image to size x size (bilinear, antialiased); without it all images
        must have one size. ``mode`` (``L``, ``RGB``, ``RGBA``) converts every image; without it all
        must have one channel count. ``per_domain`` keeps a seeded, class-stratified random subset of
        each domain (the same images whichever split loads the domain). Images are held as float32:
        pass ``size`` for big datasets (PACS at 227 x 227 takes 6 GB)."""
        sp = self.split(split, train=train, test=test)
        if size is not None and not (isinstance(size, int) and 1 <= size <= 4096):
            raise DatasetError(f"image size {size!r} is out of range: choose 1 to 4096 pixels")
        if mode is not None and mode not in MODES:
            raise DatasetError(f"unknown image mode {mode!r}: choose from {', '.join(MODES)}")
        if per_domain is not None and not (isinstance(per_domain, int) and per_domain >= 1):
            raise DatasetError(f"per_domain={per_domain!r}: give a positive number of images per domain")
        ref: dict[str, Any] = {}
        domains = {}
        for d in sp.train + sp.test:
            paths = [p for p, _ in self.files[d]]
            labels = np.array([c for _, c in self.files[d]], dtype=np.int64)
            if per_domain is not None and per_domain < len(labels):
                idx = _subset(labels, per_domain, np.random.default_rng([seed, self.domains.index(d)]))
                paths, labels = [paths[i] for i in idx], labels[idx]
            arr = np.stack([_decode(p, mode, size, ref) for p in paths])
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()
            domains[d] = Domain(d, x, torch.from_numpy(labels))
        meta = {"source": "folder", "dataset": self.name, "root": str(self.root), "split": sp.name, "seed": seed,
                "image_size": size, "image_mode": ref.get("mode"), "per_domain": per_domain,
                "counts": {d: len(v) for d, v in domains.items()},
                "available": {d: len(self.files[d]) for d in domains}}
        return DomainData(self.name, self.classes, domains, sp, meta)


def scan_folder(root: str | Path, *, allow_missing_classes: bool = False, dataset: str | None = None) -> FolderDataset:
    """Scan ``root/<domain>/<class>/<image>``: domains and classes are the sorted subfolder names.
    ``dataset`` names the known dataset to check the domains of (else guessed from the folder's name)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist (expected layout {LAYOUT})")
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} is not a folder (expected layout {LAYOUT})")
    domains = _subdirs(root)
    name = known_dataset(dataset or root.resolve().name) or dataset or root.resolve().name
    name = _check_known(root, name, domains)
    if not domains:
        raise DatasetError(f"dataset folder {root} has no domain folders (expected layout {LAYOUT})")
    if len(domains) < 2:
        raise DatasetError(f"dataset folder {root} has one domain folder ({domains[0]}): out-of-distribution "
                           f"splits need two or more (expected layout {LAYOUT})")
    per_domain = {}
    for d in domains:
        classes = _subdirs(root / d)
        if not classes:
            raise DatasetError(f"domain folder {root / d} has no class folders (expected layout {LAYOUT})")
        per_domain[d] = classes
    classes = tuple(sorted(set().union(*per_domain.values())))
    if not allow_missing_classes:
        for d, cs in per_domain.items():
            missing = [c for c in classes if c not in cs]
            if missing:
                raise DatasetError(f"domain {d!r} of {root} lacks class folder(s) {', '.join(map(repr, missing))} "
                                   f"that other domains have (every domain needs the same classes; pass "
                                   f"allow_missing_classes=True to accept it)")
    files = {}
    for d, cs in per_domain.items():
        items = []
        for c in cs:
            imgs = _images(root / d / c)
            if not imgs:
                raise DatasetError(f"class folder {root / d / c} holds no images (accepted: "
                                   f"{', '.join(IMAGE_EXTENSIONS)})")
            items += [(p, classes.index(c)) for p in imgs]
        files[d] = tuple(items)
    return FolderDataset(root, name, classes, files)


def load_folder(root: str | Path, split: str | Split | None = None, *, allow_missing_classes: bool = False,
                dataset: str | None = None, **kwargs: Any) -> DomainData:
    """Scan ``root`` and load one split (see :meth:`FolderDataset.load` for ``train``, ``test``,
    ``size``, ``mode``, ``per_domain`` and ``seed``)."""
    return scan_folder(root, allow_missing_classes=allow_missing_classes, dataset=dataset).load(split, **kwargs)
