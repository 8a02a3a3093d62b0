"""One entry point for every source of domain data: a registered suite by name (or, later, a folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archscout.data._domains import DomainData, Split
from archscout.data._suites import get_suite


def load_split(suite: str, split: str | Split, *, seed: int = 0, size: int | None = None,
               per_domain: int | None = None, root: str | Path | None = None, **kwargs: Any) -> DomainData:
    """The domains of ``split`` of ``suite`` (a registered suite such as ``fmnist-shift``).

    ``seed`` fixes the generated domains, ``size`` the image size, ``per_domain`` the images per
    domain, ``root`` the source's folder (Fashion-MNIST's idx files)."""
    return get_suite(suite).load(split, seed=seed, size=size, per_domain=per_domain, root=root, **kwargs)
