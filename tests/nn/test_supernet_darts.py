"""DARTS-cell-space supernet: shapes, the three forward modes, GDAS gradients, derivation."""

from __future__ import annotations

import pytest
import torch

from archscout.nn._supernet_darts import OP_NAMES, DartsSupernet, derive_darts, derive_genotype, edge_inputs
from archscout.spaces._base import get_space
from archscout.spaces._darts import PRIMITIVES


def _net(**kw) -> DartsSupernet:
    torch.manual_seed(0)
    return DartsSupernet(C=4, layers=3, **kw)


def _count_calls(net: DartsSupernet) -> dict[tuple[int, int, int], int]:
    calls: dict[tuple[int, int, int], int] = {}
    for i, cell in enumerate(net.cells):
        for e, ops in enumerate(cell.edges):
            for o, op in enumerate(ops):
                def hook(_m, _inp, _out, key=(i, e, o)):
                    calls[key] = calls.get(key, 0) + 1
                op.register_forward_hook(hook)
    return calls


def _gdas_weights(alpha: torch.Tensor, tau: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    gumbel = -torch.empty_like(alpha).exponential_().log()
    p = ((alpha.log_softmax(-1) + gumbel) / tau).softmax(-1)
    index = p.argmax(-1)
    hard = torch.zeros_like(p).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard - p.detach() + p, index


def test_contract_and_shapes():
    net = _net()
    assert net.alpha_shape == (2, 14, 8)
    assert net.op_names == ("none", *PRIMITIVES) == OP_NAMES
    assert net.space_name == "darts"
    assert len(edge_inputs()) == 14
    assert not any("alpha" in n for n, _ in net.named_parameters())
    assert [c.reduction for c in net.cells] == [False, True, True]  # layers//3 = 1, 2*layers//3 = 2
    alpha = 1e-3 * torch.randn(net.alpha_shape)
    for size in (8, 16, 9):
        x = torch.randn(2, 3, size, size)
        assert net(x, weights=alpha.softmax(-1)).shape == (2, 10)
        assert net(x, index=torch.randint(0, 8, (2, 14))).shape == (2, 10)
        assert net(x).shape == (2, 10)
    net1 = DartsSupernet(C=4, layers=4, num_classes=5, in_channels=1)
    assert net1(torch.randn(3, 1, 16, 16), weights=alpha.softmax(-1)).shape == (3, 5)


def test_bad_inputs_are_rejected():
    net = _net()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="shape"):
        net(x, weights=torch.rand(2, 6, 5))
    with pytest.raises(ValueError, match="shape"):
        net(x, index=torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="op ids"):
        net(x, index=torch.full((2, 14), 8, dtype=torch.long))


def test_one_hot_weights_equal_single_path():
    net = _net().eval()
    x = torch.randn(2, 3, 16, 16)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        index = torch.randint(1, 8, (2, 14), generator=g)
        index[0, 3] = 0  # a 'none' edge
        one_hot = torch.nn.functional.one_hot(index, 8).float()
        with torch.no_grad():
            torch.testing.assert_close(net(x, weights=one_hot), net(x, index=index), rtol=1e-6, atol=1e-6)


def test_zero_weights_skip_ops():
    net = _net().eval()
    calls = _count_calls(net)
    weights = torch.zeros(net.alpha_shape)
    weights[..., 4] = 0.5  # sep_conv_3x3
    weights[..., 0] = 0.5  # none: never run
    net(torch.randn(1, 3, 8, 8), weights=weights)
    assert {o for (_i, _e, o) in calls} == {4}
    assert sum(calls.values()) == 3 * 14


def test_soft_mixture_is_weighted_sum():
    net = _net().eval()
    x = torch.randn(2, 3, 8, 8)
    probs = torch.randn(net.alpha_shape).softmax(-1)
    with torch.no_grad():
        mixed = net(x, weights=probs)
        # 'none' contributes nothing: zeroing its weight changes nothing
        no_none = probs.clone()
        no_none[..., 0] = 0
        torch.testing.assert_close(net(x, weights=no_none), mixed)


def test_gdas_runs_exactly_one_op_per_edge_and_grads_reach_every_alpha():
    net = _net()
    calls = _count_calls(net)
    torch.manual_seed(3)
    alpha = (1e-3 * torch.randn(net.alpha_shape)).requires_grad_()
    weights, index = _gdas_weights(alpha)
    index[0, 0] = 0  # force a 'none' edge as well
    out = net(torch.randn(2, 3, 16, 16), weights=weights, index=index)
    for i, cell in enumerate(net.cells):
        c = 1 if cell.reduction else 0
        for e in range(14):
            ran = [o for o in range(8) if calls.get((i, e, o))]
            assert ran == [int(index[c, e])], (i, e, ran)
            assert calls[(i, e, ran[0])] == 1
    out.logsumexp(-1).sum().backward()
    assert alpha.grad is not None
    assert bool((alpha.grad != 0).all()), int((alpha.grad == 0).sum())


def test_gdas_value_equals_single_path_with_straight_through_weights():
    net = _net().eval()
    x = torch.randn(2, 3, 16, 16)
    alpha = torch.randn(net.alpha_shape)
    weights, index = _gdas_weights(alpha)
    with torch.no_grad():
        torch.testing.assert_close(net(x, weights=weights, index=index), net(x, index=index))


def test_soft_mode_grads_reach_alpha():
    net = _net()
    alpha = (1e-3 * torch.randn(net.alpha_shape)).requires_grad_()
    net(torch.randn(2, 3, 8, 8), weights=alpha.softmax(-1)).sum().backward()
    assert bool((alpha.grad != 0).all())
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_derive_picks_top2_edges_and_non_none_ops():
    alpha = torch.zeros(2, 14, 8)
    # normal node 0 (edges 0, 1): both kept; edge 1 stronger.
    alpha[0, 0, 4] = 3.0  # sep_conv_3x3 from input 0
    alpha[0, 1, 3] = 5.0  # skip_connect from input 1
    # normal node 3 (edges 9..13, inputs 0..4): 'none' is the strongest op on edge 9 but must not
    # count; edges 12 (input 3) and 13 (input 4) win.
    alpha[0, 9, 0] = 10.0
    alpha[0, 12, 7] = 4.0
    alpha[0, 13, 1] = 2.0
    genotype = derive_genotype(alpha)
    assert genotype.normal[:2] == (("skip_connect", 1), ("sep_conv_3x3", 0))
    assert genotype.normal[6:] == (("dil_conv_5x5", 3), ("max_pool_3x3", 4))
    # probabilities and raw alpha give the same arch
    assert derive_darts(alpha) == derive_darts(alpha.softmax(-1)) == derive_darts(alpha, probs=False)
    assert all(op != "none" for op, _ in genotype.normal + genotype.reduce)


def test_derived_arch_is_valid_and_round_trips():
    space = get_space("darts")
    net = _net()
    for seed in range(5):
        torch.manual_seed(seed)
        alpha = torch.randn(net.alpha_shape)
        arch = derive_darts(alpha)
        assert space.is_valid(arch.ops)
        assert space.from_str(space.to_str(arch)) == arch
        built = space.build(arch, C=4, layers=3)
        assert built(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    with pytest.raises(ValueError, match="shape"):
        derive_darts(torch.zeros(6, 5))


def test_full_size_parameter_count():
    # DARTS's CIFAR-10 search network (C=16, 8 cells, 10 classes): DARTS's model_search counts
    # 1,930,618 parameters (stem BN affine, cells affine=False).
    net = DartsSupernet()
    assert sum(p.numel() for p in net.parameters()) == 1_930_618
