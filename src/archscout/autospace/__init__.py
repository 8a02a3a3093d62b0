"""AutoSpace-style search-space evolution (algorithms.md §4: a labelled reconstruction, not the paper's code).

Per-layer populations of small DAG cells evolve under a differentiable fitness score (the fitness-weighted
sum of K sampled cells trained in a supernet, Eqns 3-5 as reconstructed), guided by a reference cell
(an MBConv), within a MAdds or CPU-latency budget; the top-K cells per layer form a learned space, which
is a SearchSpace like any other. ``compare`` (``_tabular``) is the NB201 ground-truth check.

Label: **AutoSpace-style**. No public AutoSpace code exists and the paper's Eqns 3-5 were not retrieved;
everything below the figure-level procedure is a reconstruction. Every [ASSUMPTION] of algorithms.md §4.3
is an option (``EvolveConfig`` unless noted):

==========================================  =====================================================
assumption                                  option (default)
==========================================  =====================================================
cell: 4-node DAG, ops, merge modes          ``CELL_OPS`` none/identity/conv1x1/dw3x3/dw5x5,
                                            ``MERGES`` sum/max (fixed sets); ``expansion`` (2)
cell inside a layer                         adapter 1x1 (AvgPool for stride) -> DAG -> 1x1 project
                                            (+ residual): documented in ``_cells``
reference cell, initialisation              ``reference`` (MBConv-like), ``init`` reference|random
P, K, tournament, mutation                  ``population`` 8, ``k_sample`` 3, ``tour`` 3, ``p_mut``
                                            0.5, ``mutation_kinds`` op/add/remove/merge
mutant's fitness                            ``mutant_fitness`` parent|zero
reference in every sampled set              ``ref_anchor`` (True)
logits a initialised from fitness           ``logit_init`` fitness|zero
first-order W/a alternation, warm-up        ``steps_per_iter`` 30, ``warmup_steps`` 5, ``lr``, ``arch_lr``
resource term R(a)                          ``penalty`` linear|log|none, ``lambda_res`` 0.1
budget as hard per-layer caps               ``budget_split`` reference|uniform|none
write-back (Eqn 5)                          ``beta`` 0.5 (centred a - mean a)
population control                          lowest fitness out, never the reference (fixed rule)
termination, output                         ``iterations`` 6, ``patience``, ``top_k`` 2
weights per (layer, cell hash)              fixed; SGD re-created per iteration (the cells change)
NB201 tabular adaptation                    ``TabularConfig`` (REINFORCE stand-in for the supernet)
==========================================  =====================================================

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
