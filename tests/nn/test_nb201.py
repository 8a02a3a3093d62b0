import numpy as np
import pandas as pd
import pytest
import torch

from archscout.hardware import count_macs, count_params, nb201_params_macs
from archscout.nn import TinyNetwork
from archscout.spaces import get_space


@pytest.fixture(scope="module")
def zc(fixtures):
    return pd.read_csv(fixtures / "nb201_zc_params_flops.csv.gz")


def test_structure_and_forward():
    net = TinyNetwork(0)
    assert len(net.cells) == 17
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    net = TinyNetwork(0, num_classes=120, return_features=True)
    feats, logits = net(torch.zeros(1, 3, 16, 16))
    assert feats.shape == (1, 64) and logits.shape == (1, 120)
    small = TinyNetwork(0, C=8, N=1, num_classes=10, in_channels=1)
    assert small(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    # convs are bias-free, pooling excludes padding
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert all(not m.count_include_pad for m in net.modules() if isinstance(m, torch.nn.AvgPool2d)
               and m.kernel_size == 3)


def test_space_build():
    space = get_space("nb201")
    net = space.build(space.from_index(9930), num_classes=100)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


@pytest.mark.parametrize("cfg", [
    dict(), dict(num_classes=100), dict(num_classes=120, input_size=16),
    dict(C=8, N=2, in_channels=1, input_size=28),
])
def test_closed_form_equals_built_network(cfg):
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    idx = list(rng.choice(15625, 4, replace=False)) + [0, 1651, 1462]
    size, in_ch = cfg.pop("input_size", 32), cfg.get("in_channels", 3)
    params, macs = nb201_params_macs(space.ops_table[idx], input_size=size, **cfg)
    for i, p, m in zip(idx, params, macs):
        net = TinyNetwork(int(i), **cfg)
        assert count_params(net) == p
        assert count_macs(net, (1, in_ch, size, size)) == m


def test_params_equal_nb201_for_all_9445(zc):
    space = get_space("nb201")
    ops = np.array([space.from_str(s).ops for s in zc.net_str])
    params, _ = nb201_params_macs(ops)
    # zc stores params in millions with 6 decimals: exact integer counts
    assert np.array_equal(params, np.round(zc.params.to_numpy() * 1e6).astype(np.int64))


def test_flops_difference_to_nb201_convention_is_explained(zc):
    """NB201 counts MACs plus 3 per conv-edge output element, 9 per 3x3-pool output element and a
    fixed 0.160832 M in the skeleton; our MACs (PyTorch's counter) leave those out."""
    space = get_space("nb201")
    ops = np.array([space.from_str(s).ops for s in zc.net_str])
    _, macs = nb201_params_macs(ops)
    cell_elems = 5 * (16 * 32 * 32 + 32 * 16 * 16 + 64 * 8 * 8)  # output elements of one edge, 15 cells
    n_conv = np.isin(ops, (2, 3)).sum(1)
    n_pool = (ops == 4).sum(1)
    expected = macs + 3 * cell_elems * n_conv + 9 * cell_elems * n_pool + 160832
    assert np.allclose(expected / 1e6, zc.flops.to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.slow
def test_built_network_params_all_9445(zc):
    for s, p in zip(zc.net_str, zc.params):
        assert count_params(TinyNetwork(s)) == round(p * 1e6)


@pytest.mark.parametrize("size", [33, 34, 35, 227])
def test_any_image_size_goes_through_network_and_supernet(size):
    from archscout.nn import NB201Supernet
    x = torch.rand(1, 3, size, size)
    net = get_space("nb201").build(11472, num_classes=4, C=4, N=1)
    assert net(x).shape[-1] == 4
    assert NB201Supernet(C=4, N=1, num_classes=4)(x).shape[-1] == 4
