"""Every registered space meets the SearchSpace contract."""

import numpy as np
import pytest

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.spaces import Arch, get_space, list_spaces


def test_registry():
    assert {"nb201", "fbnet", "darts"} <= set(list_spaces())
    with pytest.raises(UnknownNameError, match="unknown space 'nb210'; choose from: nb201"):
        get_space("nb210")


@pytest.mark.parametrize("name", list_spaces())
def test_contract(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert isinstance(arch, Arch) and arch.space == name
        assert hash(arch) == hash(Arch(name, tuple(arch.ops)))
        assert space.from_str(space.to_str(arch)) == arch
        assert space.parse(arch) is arch
        child = space.mutate(arch, rng)
        assert child != arch and space.make(child.ops) == child
        nbrs = space.neighbours(arch)
        assert child in nbrs and all(space.is_valid(n.ops) for n in nbrs)
        assert space.encode(arch).shape == (sum(space.choices),)
    assert len(space.param_names) == len(space.choices)
    with pytest.raises(InvalidArchError):
        space.make([True] * len(space.choices))
    with pytest.raises(InvalidArchError):
        space.make([0.5] * len(space.choices))
    other = next(get_space(n) for n in list_spaces() if n != name)
    with pytest.raises(InvalidArchError, match=f"given to space '{name}'"):
        space.to_str(other.sample(0))
    assert space.sample(3) == space.sample(3)
