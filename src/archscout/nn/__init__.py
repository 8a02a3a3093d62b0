"""PyTorch networks built from architectures of archscout's spaces, and the supernets of one-shot search."""

from archscout.nn._darts import DartsNetwork
from archscout.nn._auxnets import ConvNet4
from archscout.nn._fbnet import FBNetNetwork
from archscout.nn._generator import ConditionalGenerator
from archscout.nn._nb201 import InferCell, TinyNetwork
from archscout.nn._supernet import NB201Supernet
from archscout.nn._supernet_darts import DartsSupernet, derive_darts

__all__ = ["ConditionalGenerator", "ConvNet4", "DartsNetwork", "DartsSupernet", "FBNetNetwork", "InferCell", "NB201Supernet", "TinyNetwork",
           "derive_darts"]
