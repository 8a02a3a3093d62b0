"""One entry point for every source of domain data: a registered suite by name, or a folder in
DomainBed's layout (``root/<domain>/<class>/<image>``) by path or by a DomainBed dataset's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archscout.data._domains import DatasetError, DomainData, Split
from archscout.data._folder import LAYOUT, FolderDataset, known_dataset, known_folder, scan_folder
from archscout.data._suites import SUITES, get_suite
from archscout.exceptions import UnknownNameError


def load_split(suite: str | Path, split: str | Split | None, *, seed: int = 0, size: int | None = None,
               per_domain: int | None = None, root: str | Path | None = None, mode: str | None = None,
               **kwargs: Any) -> DomainData:
    """The domains of ``split`` of ``suite``.

    ``suite`` is a registered suite (``fmnist-shift``), a folder path in DomainBed's layout, or a
    DomainBed dataset's name (``PACS``, ``VLCS``, ``OfficeHome``, ``TerraIncognita``, ``NICO``) with
    ``root`` its folder or the folder holding it (DomainBed's ``data_dir``). ``seed`` fixes the
    generated domains (or a folder's ``per_domain`` subset), ``size`` the image size, ``per_domain``
    the images per domain, ``root`` a suite's source folder (Fashion-MNIST's idx files). Folders take
    a split ``lodo-<domain>`` or ``train=``/``test=`` domains; ``mode`` (``L``, ``RGB``, ``RGBA``)
    converts a folder's images (default: the mode most of them have)."""
    if suite in SUITES:
        if mode not in (None, "RGB"):
            raise DatasetError(f"image mode {mode!r} is for folder datasets: suite {suite}'s images are RGB")
        return get_suite(suite).load(split, seed=seed, size=size, per_domain=per_domain, root=root, **kwargs)
    return open_folder(suite, root).load(split, seed=seed, size=size, per_domain=per_domain, mode=mode, **kwargs)


def open_folder(suite: str | Path, root: str | Path | None = None) -> FolderDataset:
    """The scanned folder dataset that ``suite`` names: a folder path, or a DomainBed dataset's name
    with ``root`` its folder or the folder holding it (nothing decoded)."""
    folder, dataset = _folder(suite, root)
    return scan_folder(folder, dataset=dataset)


def _folder(suite: str | Path, root: str | Path | None) -> tuple[Path, str | None]:
    """The folder ``suite`` names (a path, or a known dataset's name under ``root``) and that name."""
    name = known_dataset(str(suite))
    if name is not None and (root is not None or not Path(suite).is_dir()):
        if root is None:
            raise DatasetError(f"{name} is a folder dataset: pass root= / --data-root, its folder or the folder "
                               f"holding it (layout {LAYOUT})")
        return known_folder(name, root), name
    if root is not None:
        raise DatasetError(f"root= is for a suite's source or a named dataset; the folder {suite} is its own root")
    path = Path(str(suite)).expanduser()
    if path.is_dir() or any(c in str(suite) for c in "/\\~") or str(suite).startswith("."):
        return path, None  # scan_folder says what is wrong with a path that is not a dataset folder
    err = UnknownNameError("suite", suite, SUITES)
    err.args = (f"{err.args[0]}; or a folder path in DomainBed's layout ({LAYOUT}), or PACS, VLCS, OfficeHome, "
                f"TerraIncognita, NICO with root=",)
    raise err
