"""PyTorch networks built from architectures of archscout's spaces."""

from archscout.nn._darts import DartsNetwork
from archscout.nn._fbnet import FBNetNetwork
from archscout.nn._nb201 import InferCell, TinyNetwork

__all__ = ["DartsNetwork", "FBNetNetwork", "InferCell", "TinyNetwork"]
