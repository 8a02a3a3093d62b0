"""AutoSpace-style search-space evolution (algorithms.md §4: a labelled reconstruction, not the paper's code).

Per-layer populations of small DAG cells evolve under a differentiable fitness score (the fitness-weighted
sum of K sampled cells trained in a supernet, Eqns 3-5 as reconstructed), guided by a reference cell
(an MBConv), within a MAdds or CPU-latency budget; the top-K cells per layer form a learned space, which
is a SearchSpace like any other. ``compare`` (``_tabular``) is the NB201 ground-truth check.

Example:
    >>> from archscout.autospace import EvolveConfig, evolve
    >>> from archscout.data import load_split
    >>> data = load_split("fmnist-shift", "style", per_domain=300)
    >>> result = evolve(data, EvolveConfig(iterations=2, steps_per_iter=5))  # doctest: +SKIP
    >>> result.space.save("space.json")  # doctest: +SKIP
"""

from archscout.autospace._cells import CELL_OPS, MERGES, MUTATIONS, REFERENCE_CELL, Cell, mutate_cell, mutations, \
    random_cell
from archscout.autospace._population import Population
from archscout.autospace._supernet import CPU_SKELETON, CellModule, EvolutionSupernet, Skeleton, cell_network
from archscout.autospace._learned import (FBNetSmallSpace, LearnedSpace, SkeletonSpace, SmallOneShotConfig,
                                          most_probable_within, oneshot_search, register_learned)
from archscout.autospace._tabular import NB201SubsetSpace, NB201Table, TabularConfig, compare, evolve_nb201, \
    format_comparison

__all__ = ["CELL_OPS", "CPU_SKELETON", "MERGES", "MUTATIONS", "REFERENCE_CELL", "Cell", "CellModule",
           "EvolutionSupernet", "FBNetSmallSpace", "LearnedSpace", "NB201SubsetSpace", "NB201Table", "Population",
           "Skeleton", "SkeletonSpace", "SmallOneShotConfig", "TabularConfig", "cell_network", "compare",
           "evolve_nb201", "format_comparison", "most_probable_within", "mutate_cell", "mutations", "oneshot_search",
           "random_cell", "register_learned"]

from archscout.autospace._evolve import EvolveConfig, EvolveResult, cpu_profile, evolve, layer_caps  # noqa: E402

__all__ += ["EvolveConfig", "EvolveResult", "cpu_profile", "evolve", "layer_caps"]
