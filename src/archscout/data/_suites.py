"""Named, versioned shift suites: domains generated deterministically from a source dataset, and the
splits (train domains -> test domains) that results are reported on.

A domain is a function of (suite version, seed, domain, image size, images per domain): its images
are a fixed slice of a seeded permutation of the source (disjoint across domains when the source is
big enough) and its random draws come from a generator seeded by (seed, domain position). So loading
one split gives exactly the same images as loading all of them, in any order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archscout._registry import Registry
from archscout.data import _shifts as S
from archscout.data._domains import DatasetError, Domain, DomainData, Split
from archscout.data._sources import DIGITS_CLASSES, FASHION_CLASSES, load_digits, load_fashion_mnist
from archscout.exceptions import UnknownNameError

# a domain maker: (grey images at working resolution, labels, generator, output size) -> RGB images,
# or (RGB images, labels) when the domain changes labels too
Maker = Callable[[torch.Tensor, torch.Tensor, torch.Generator, int], torch.Tensor | tuple[torch.Tensor, torch.Tensor]]
LABEL_NOISE = 0.25  # of the correlation domains, as in Colored MNIST


@dataclass(frozen=True)
class DomainSpec:
    name: str
    family: str  # iid | correlation | rotation | style
    description: str
    make: Maker


def _plain(x, y, gen, size):
    return S.grey_to_rgb(S.resize(x, size))


def _colour(agreement: float) -> Maker:
    def make(x, y, gen, size):
        y = S.noisy_labels(y, LABEL_NOISE, 10, gen)
        return S.colour_by_label(S.resize(x, size), y, agreement, gen), y

    return make


def _rotation(degrees: float) -> Maker:
    return lambda x, y, gen, size: S.grey_to_rgb(S.resize(S.rotate(x, degrees), size))


def _noise(x, y, gen, size):
    return S.grey_to_rgb(S.gaussian_noise(S.resize(x, size), 0.15, gen))


def _blur(x, y, gen, size):
    return S.grey_to_rgb(S.resize(S.gaussian_blur(x, 0.04 * x.shape[-1]), size))


def _contrast(x, y, gen, size):
    return S.grey_to_rgb(S.low_contrast(S.resize(x, size), 0.3))


def _stripes(x, y, gen, size):
    return S.grey_to_rgb(S.stripes_background(S.resize(x, size), gen))


COLOUR_AGREEMENT = {"color90": 0.9, "color80": 0.8, "color10": 0.1}
ROTATIONS = (0, 15, 30, 45, 60, 75)
STYLES = {"clean": ("no corruption", _plain), "noise": ("Gaussian noise, sigma 0.15", _noise),
          "blur": ("Gaussian blur, sigma 4 % of the width", _blur),
          "contrast": ("contrast reduced to 30 %", _contrast),
          "stripes": ("background of random stripes", _stripes)}


def _domains_v1() -> list[DomainSpec]:
    out = [DomainSpec("iid-a", "iid", "grey images, first sample", _plain),
           DomainSpec("iid-b", "iid", "grey images, a second sample from the same distribution", _plain)]
    out += [DomainSpec(n, "correlation", f"{LABEL_NOISE:.0%} of labels flipped, then the object coloured by "
                       f"its (noisy) label's colour with probability {p}", _colour(p))
            for n, p in COLOUR_AGREEMENT.items()]
    out += [DomainSpec(f"rot{d}", "rotation", f"rotated by {d} degrees", _rotation(d)) for d in ROTATIONS]
    out += [DomainSpec(n, "style", desc, make) for n, (desc, make) in STYLES.items()]
    return out


def _splits_v1() -> list[Split]:
    rots = [f"rot{d}" for d in ROTATIONS]
    styles = list(STYLES)
    out = [Split("iid", ("iid-a",), ("iid-b",), "no shift: two samples of the same distribution"),
           Split("correlation", ("color90", "color80"), ("color10",),
                 "correlation shift: colour agrees with the (25 % noisy) label 90 % / 80 % in training, 10 % at test"),
           Split("rotation", tuple(rots[:-1]), (rots[-1],),
                 "diversity shift: rotations 0-60 degrees in training, 75 degrees at test"),
           Split("style", tuple(s for s in styles if s != "noise"), ("noise",),
                 "diversity shift: clean, blurred, low-contrast and striped images in training, noisy at test")]
    out += [Split(f"rotation-lodo-{d}", tuple(r for r in rots if r != d), (d,),
                  f"leave-one-domain-out over rotations: {d} held out") for d in rots]
    out += [Split(f"style-lodo-{d}", tuple(s for s in styles if s != d), (d,),
                  f"leave-one-domain-out over styles: {d} held out") for d in styles]
    return out


@dataclass(frozen=True)
class ShiftSuite:
    """A set of named domains generated from a source dataset, and the splits over them."""

    name: str
    version: int
    source: str
    classes: tuple[str, ...]
    load_source: Callable[..., tuple[np.ndarray, np.ndarray]] = field(repr=False)
    domain_specs: tuple[DomainSpec, ...] = field(repr=False)
    split_list: tuple[Split, ...] = field(repr=False)
    default_size: int = 16
    default_per_domain: int = 2000
    description: str = ""

    @property
    def id(self) -> str:
        """The versioned name results carry (``fmnist-shift-v1``)."""
        return f"{self.name}-v{self.version}"

    @property
    def domains(self) -> dict[str, DomainSpec]:
        return {d.name: d for d in self.domain_specs}

    @property
    def splits(self) -> dict[str, Split]:
        return {s.name: s for s in self.split_list}

    def split(self, name: str | Split) -> Split:
        if isinstance(name, Split):
            unknown = [d for d in name.train + name.test if d not in self.domains]
            if unknown:
                raise UnknownNameError(f"domain of {self.id}", unknown[0], self.domains)
            return name
        try:
            return self.splits[name]
        except KeyError:
            raise UnknownNameError(f"split of {self.id}", name, self.splits) from None

    def load(self, split: str | Split, *, seed: int = 0, size: int | None = None, per_domain: int | None = None,
             root: Any = None) -> DomainData:
        """The domains of ``split``; ``root`` is the source's folder where it has one (Fashion-MNIST)."""
        sp = self.split(split)
        size = self.default_size if size is None else size
        per_domain = self.default_per_domain if per_domain is None else per_domain
        if not isinstance(seed, int) or seed < 0:
            raise DatasetError(f"seed {seed!r} is invalid: choose an integer >= 0")
        if not 4 <= size <= 256:
            raise DatasetError(f"image size {size} is out of range: choose 4 to 256 pixels")
        images, labels = self.load_source(root) if root is not None else self.load_source()
        if per_domain < 2 or per_domain > len(labels):
            raise DatasetError(f"{per_domain} images per domain: {self.source} has {len(labels)}; choose 2 to "
                               f"{len(labels)}")
        names = list(self.domains)
        domains = {d: self._domain(names.index(d), images, labels, seed, size, per_domain)
                   for d in sp.train + sp.test}
        meta = {"suite": self.id, "source": self.source, "seed": seed, "image_size": size,
                "per_domain": per_domain, "split": sp.name}
        return DomainData(self.id, self.classes, domains, sp, meta)

    def _domain(self, position: int, images: np.ndarray, labels: np.ndarray, seed: int, size: int,
                n: int) -> Domain:
        spec = self.domain_specs[position]
        total = len(labels)
        if n * len(self.domain_specs) <= total:  # disjoint slices of one permutation
            order = np.random.default_rng([seed, 0]).permutation(total)
            idx = np.sort(order[position * n:(position + 1) * n])
        else:  # a small source: each domain draws its own sample
            idx = np.sort(np.random.default_rng([seed, 1, position]).choice(total, n, replace=False))
        x = torch.from_numpy(images[idx].astype(np.float32) / 255.0)[:, None]
        x = S.resize(x, max(size, x.shape[-1]))  # work at the output size at least (digits are 8x8)
        y = torch.from_numpy(labels[idx].copy())
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 2, position]).generate_state(1)[0]))
        out = spec.make(x, y, gen, size)
        if isinstance(out, tuple):
            out, y = out
        return Domain(spec.name, out.to(torch.float32).contiguous(), y)


SUITES: Registry[ShiftSuite] = Registry("suite")


def register_suite(suite: ShiftSuite, latest: bool = True) -> ShiftSuite:
    """Register under its versioned id, and under its bare name when it is the latest version."""
    SUITES.add(suite.id, suite)
    if latest:
        SUITES.add(suite.name, suite)
    return suite


def get_suite(name: str) -> ShiftSuite:
    return SUITES.get(name)


def list_suites() -> list[ShiftSuite]:
    """Each suite once (its versioned id), in registration order."""
    return [SUITES.get(n) for n in SUITES if SUITES.get(n).id == n]


register_suite(ShiftSuite(
    "fmnist-shift", 1, "Fashion-MNIST (Debian dataset-fashion-mnist)", FASHION_CLASSES, load_fashion_mnist,
    tuple(_domains_v1()), tuple(_splits_v1()), default_size=16, default_per_domain=2000,
    description="Fashion-MNIST in 16 domains: iid, colour-label correlation, rotations, corruptions/textures"))
register_suite(ShiftSuite(
    "digits-shift", 1, "scikit-learn digits (bundled)", DIGITS_CLASSES, lambda root=None: load_digits(),
    tuple(_domains_v1()), tuple(_splits_v1()), default_size=16, default_per_domain=100,
    description="the same domains and splits on scikit-learn's 1,797 digits: tiny, for tests and smoke runs"))
