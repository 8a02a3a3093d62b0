"""Search spaces: NB201, FBNet and the DARTS cell space, behind one protocol and a registry."""

from archscout.spaces._base import (SPACES, Arch, SearchSpace, get_space, list_spaces, register_instance,
                                    register_space)
from archscout.spaces import _nb201, _fbnet, _darts  # noqa: F401  (register the spaces)
from archscout.spaces._nb201 import NB201Space
from archscout.spaces._fbnet import FBNetSpace
from archscout.spaces._darts import DartsSpace, Genotype

__all__ = [
    "SPACES",
    "Arch",
    "DartsSpace",
    "FBNetSpace",
    "Genotype",
    "NB201Space",
    "SearchSpace",
    "get_space",
    "list_spaces",
    "register_instance",
    "register_space",
]
