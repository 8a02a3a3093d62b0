"""Real-world datasets in DomainBed's folder layout, ``root/<domain>/<class>/<image>`` (PACS, VLCS,
OfficeHome, TerraIncognita, NICO or any folder laid out so), decoded with PIL into domains, with
leave-one-domain-out splits (``lodo-<domain>``) and user-given ones (``train=[...], test=[...]``).

Folders are taken as users have them: images of any size are resized (to 16 x 16 unless told), grey
and colour images are converted to the folder's majority mode, class folders are matched across
domains by name regardless of case and punctuation (``Dog`` = ``dog``), and a domain may lack
classes. Class indices are the positions in the sorted class names, the same in every domain; a
held-out domain's images of a class no training domain has are left out of it, with a warning.
Scanning lists files only (and reads headers for :meth:`FolderDataset.describe`); loading decodes
the domains of one split.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archscout.data._domains import DatasetError, DatasetWarning, Domain, DomainData, Split
from archscout.exceptions import UnknownNameError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
MODES = {"L": 1, "RGB": 3, "RGBA": 4}  # the channel modes images are converted to
DEFAULT_SIZE = 16  # images are resized to this unless told (the cpu profile's size, as the shift suites')
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


def _open_error(path: Path, exc: Exception) -> DatasetError:
    msg = " ".join(str(exc).split())
    return DatasetError(f"cannot decode image {path} ({type(exc).__name__}: {msg}): replace or remove it")


_DECODE_ERRORS = (OSError, SyntaxError, ValueError)


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """An image's channel mode and size, from its header (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return _natural_mode(im), im.size
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise _open_error(path, exc) from None


def _decode(path: Path, mode: str, size: int) -> np.ndarray:
    """One image as uint8 (size, size, channels of ``mode``)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert(mode) if im.mode != mode else im
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)  # PIL antialiases when shrinking
            arr = np.asarray(im, dtype=np.uint8)
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise _open_error(path, exc) from None
    return arr[:, :, None] if arr.ndim == 2 else arr


@dataclass(frozen=True)
class FolderDataset:
    """A scanned folder: its domains, classes and image files (``files[domain]`` holds (path, label)
    pairs); nothing is decoded until :meth:`load`. ``spellings[class][domain]`` is the folder name a
    domain uses for a class where it differs from the class's name (``Dog`` for ``dog``)."""

    root: Path
    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[tuple[Path, int], ...]]
    spellings: dict[str, dict[str, str]] = field(default_factory=dict)
    _headers: dict[Path, tuple[str, tuple[int, int]]] = field(default_factory=dict, init=False, repr=False,
                                                              compare=False)

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

    def counts(self, domain: str) -> dict[str, int]:
        """Images per class of a domain (0 where the domain lacks the class)."""
        n = Counter(c for _, c in self.files[domain])
        return {cls: n[i] for i, cls in enumerate(self.classes)}

    def headers(self) -> dict[Path, tuple[str, tuple[int, int]]]:
        """Every image's channel mode and size, read from the headers once."""
        if not self._headers:
            self._headers.update((p, _header(p)) for files in self.files.values() for p, _ in files)
        return self._headers

    def majority_mode(self) -> str:
        """The channel mode most images have (more channels on a tie): what ``mode=None`` converts to."""
        n = Counter(m for m, _ in self.headers().values())
        return max(n, key=lambda m: (n[m], MODES[m]))

    def describe(self) -> dict[str, Any]:
        """Domains, classes, counts, image sizes and modes, and the splits: what ``data list FOLDER`` shows."""
        heads = self.headers()
        domains = []
        for d in self.domains:
            own = [heads[p] for p, _ in self.files[d]]
            counts = self.counts(d)
            domains.append({"name": d, "images": len(own), "per_class": counts,
                            "missing_classes": [c for c, k in counts.items() if k == 0],
                            "modes": dict(Counter(m for m, _ in own).most_common()),
                            "sizes": {f"{w}x{h}": k for (w, h), k in Counter(sz for _, sz in own).most_common()}})
        return {"dataset": self.name, "root": str(self.root), "known": self.known, "layout": LAYOUT,
                "images": sum(d["images"] for d in domains), "classes": list(self.classes),
                "spellings": self.spellings, "domains": domains, "mode": self.majority_mode(),
                "image_size": DEFAULT_SIZE, "splits": [{"name": sp.name, "train": list(sp.train), "test": list(sp.test)}
                                                       for sp in self.splits.values()]}

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

    def _unseen(self, sp: Split) -> dict[str, dict[str, int]]:
        """Per test domain, its classes that no training domain has, with their image counts."""
        seen = {c for d in sp.train for _, c in self.files[d]}
        out = {}
        for d in sp.test:
            n = Counter(self.classes[c] for _, c in self.files[d] if c not in seen)
            if n:
                out[d] = dict(sorted(n.items()))
                if sum(n.values()) == len(self.files[d]):
                    raise DatasetError(f"held-out domain {d!r} has only classes that no training domain of split "
                                       f"{sp.name!r} has ({', '.join(map(repr, n))}): nothing to evaluate")
        return out

    def load(self, split: str | Split | None = None, *, train: str | Sequence[str] | None = None,
             test: str | Sequence[str] | None = None, size: int | None = None, mode: str | None = None,
             per_domain: int | None = None, seed: int = 0) -> DomainData:
        """Decode the domains of a split into tensors (N, C, H, W) in [0, 1].

        ``size`` resizes every image to size x size (bilinear, antialiased; default 16). ``mode``
        (``L``, ``RGB``, ``RGBA``) converts every image; default: the mode most of the folder's
        images have. ``per_domain`` keeps a seeded, class-stratified random subset of each domain (the
        same images whichever split loads the domain). A held-out domain's images of classes that no
        training domain has are left out of it, with a :class:`DatasetWarning` naming the classes."""
        sp = self.split(split, train=train, test=test)
        size = DEFAULT_SIZE if size is None else size
        if isinstance(size, bool) or not (isinstance(size, int) and 1 <= size <= 4096):
            raise DatasetError(f"image size {size!r} is out of range: choose 1 to 4096 pixels")
        if mode is not None and mode not in MODES:
            raise DatasetError(f"unknown image mode {mode!r}: choose from {', '.join(MODES)}")
        if per_domain is not None and not (isinstance(per_domain, int) and per_domain >= 1):
            raise DatasetError(f"per_domain={per_domain!r}: give a positive number of images per domain")
        mode = mode or self.majority_mode()
        unseen = self._unseen(sp)
        for d, n in unseen.items():
            warnings.warn(f"held-out domain {d!r} has class(es) {', '.join(f'{c!r} ({k} images)' for c, k in n.items())}"
                          f" that no training domain has: left out of its evaluation", DatasetWarning, stacklevel=2)
        domains = {}
        for d in sp.train + sp.test:
            skip = {self.classes.index(c) for c in unseen.get(d, ())}
            paths = [p for p, c in self.files[d] if c not in skip]
            labels = np.array([c for _, c in self.files[d] if c not in skip], dtype=np.int64)
            if per_domain is not None and per_domain < len(labels):
                idx = _subset(labels, per_domain, np.random.default_rng([seed, self.domains.index(d)]))
                paths, labels = [paths[i] for i in idx], labels[idx]
            arr = np.stack([_decode(p, mode, size) for p in paths])
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()
            domains[d] = Domain(d, x, torch.from_numpy(labels))
        meta = {"source": "folder", "dataset": self.name, "root": str(self.root), "split": sp.name, "seed": seed,
                "image_size": size, "image_mode": mode, "per_domain": per_domain,
                "counts": {d: len(v) for d, v in domains.items()},
                "available": {d: len(self.files[d]) for d in domains}}
        if unseen:
            meta["excluded_unseen_classes"] = unseen
        return DomainData(self.name, self.classes, domains, sp, meta)


def _class_folders(root: Path, domain: str) -> dict[str, str]:
    """A domain's class folders by matching key (lower case, letters and digits only)."""
    out: dict[str, str] = {}
    for c in _subdirs(root / domain):
        key = _norm(c) or c
        if key in out:
            raise DatasetError(f"domain folder {root / domain} has class folders {out[key]!r} and {c!r} that differ "
                               f"only in case or punctuation: merge or rename one")
        out[key] = c
    if not out:
        raise DatasetError(f"domain folder {root / domain} has no class folders (expected layout {LAYOUT})")
    return out


def scan_folder(root: str | Path, *, dataset: str | None = None) -> FolderDataset:
    """Scan ``root/<domain>/<class>/<image>``: domains are the sorted subfolder names, classes the
    class folders matched across domains (``Dog`` = ``dog``; named as most domains spell them).
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
    folders = {d: _class_folders(root, d) for d in domains}
    names = {}  # matching key -> class name: the spelling most domains use (the first in order on a tie)
    for key in sorted(set().union(*folders.values())):
        n = Counter(f[key] for f in folders.values() if key in f)
        names[key] = min(n, key=lambda c: (-n[c], c))
    classes = tuple(sorted(names.values()))
    if len(classes) < 2:
        raise DatasetError(f"dataset folder {root} has one class ({classes[0]}): classification needs two or more "
                           f"class folders per domain (expected layout {LAYOUT})")
    files, spellings = {}, {}
    for d, keys in folders.items():
        items = []
        for key, folder in keys.items():
            imgs = _images(root / d / folder)
            if not imgs:
                raise DatasetError(f"class folder {root / d / folder} holds no images (accepted: "
                                   f"{', '.join(IMAGE_EXTENSIONS)})")
            if folder != names[key]:
                spellings.setdefault(names[key], {})[d] = folder
            items += [(p, classes.index(names[key])) for p in imgs]
        files[d] = tuple(items)
    return FolderDataset(root, name, classes, files, spellings)


def load_folder(root: str | Path, split: str | Split | None = None, *, dataset: str | None = None,
                **kwargs: Any) -> DomainData:
    """Scan ``root`` and load one split (see :meth:`FolderDataset.load` for ``train``, ``test``,
    ``size``, ``mode``, ``per_domain`` and ``seed``)."""
    return scan_folder(root, dataset=dataset).load(split, **kwargs)
