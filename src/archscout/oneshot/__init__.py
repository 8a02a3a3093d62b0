"""One-shot (weight-sharing) search: a supernet trained once, an architecture derived from it.

DARTS (first and second order), GDAS, SPOS, MdeNAS, FP-NAS, NA-DARTS and NAS-OoD on the NB201 space
(most also on the DARTS cell space), behind one interface (``OneShotMethod.search``)
and a registry by name; an optional hardware-cost term (``OpCost``): an expected-cost penalty with a
target and a hard constraint at derivation.

Example:
    >>> from archscout.data import load_split
    >>> data = load_split("digits-shift", "style")
    >>> result = get_method("gdas").search("nb201", data, get_profile("gdas", "cpu", epochs=1))
    >>> result.arch_str  # doctest: +SKIP
"""

from archscout.oneshot._base import (METHODS, PROFILES, Halves, OneShotConfig, OneShotMethod, OneShotResult,
                                     SearchState, StepStats, get_method, get_profile, list_methods, register_method)
from archscout.oneshot._cost import OpCost
from archscout.oneshot._darts import Darts, DartsConfig
from archscout.oneshot._fpnas import FPNAS, FPNASConfig
from archscout.oneshot._gdas import GDAS, GDASConfig
from archscout.oneshot._mdenas import MdeNAS, MdeNASConfig
from archscout.oneshot._nadarts import NADarts, NADartsConfig
from archscout.oneshot._nasood import NASOOD, NASOODConfig
from archscout.oneshot._spos import SPOS, SPOSConfig

__all__ = ["FPNAS", "GDAS", "METHODS", "NASOOD", "PROFILES", "SPOS", "Darts", "DartsConfig", "FPNASConfig",
           "GDASConfig", "Halves", "MdeNAS", "MdeNASConfig", "NADarts", "NADartsConfig", "NASOODConfig",
           "OneShotConfig", "OneShotMethod", "OneShotResult", "OpCost", "SPOSConfig", "SearchState", "StepStats",
           "get_method", "get_profile", "list_methods", "register_method"]
