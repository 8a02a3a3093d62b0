import pytest
import torch
import torch.nn.functional as F

from archscout.nn._nb201 import TinyNetwork
from archscout.nn._supernet import CONV1, EDGES_FROM, NB201Supernet, SearchCell
from archscout.spaces import get_space

torch.set_num_threads(1)
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def _copy_tiny(tiny: TinyNetwork, sup: NB201Supernet) -> None:
    """Load a TinyNetwork's weights into the supernet slots of its ops."""
    own = sup.state_dict()
    with torch.no_grad():
        for k, v in tiny.state_dict().items():
            if k in own and own[k].shape == v.shape and not k.startswith("cells."):
                own[k].copy_(v)
        for t_cell, s_cell in zip(tiny.cells, sup.cells):
            if not isinstance(s_cell, SearchCell):
                s_cell.load_state_dict(t_cell.state_dict())
                continue
            for e, op in enumerate(t_cell.edges):
                if not isinstance(op, torch.nn.Sequential):
                    continue
                src = [s for s, edges in enumerate(EDGES_FROM) if e in edges][0]
                slot = EDGES_FROM[src].index(e)
                block = s_cell.convs[src][0 if op[1].kernel_size == (1, 1) else 1]
                c = block.channels
                block.conv.weight[slot * c:(slot + 1) * c] = op[1].weight
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(block.bn, name)[slot * c:(slot + 1) * c] = getattr(op[2], name)


@pytest.mark.parametrize("train", [True, False])
def test_one_hot_forward_equals_fixed_network(train):
    torch.manual_seed(0)
    arch = get_space("nb201").from_str(ARCH)
    tiny = TinyNetwork(ARCH, C=4, N=1)
    sup = NB201Supernet(C=4, N=1, affine=True)
    _copy_tiny(tiny, sup)
    tiny.train(train)
    sup.train(train)
    x = torch.randn(8, 3, 8, 8)
    ops = torch.tensor(arch.ops)
    one_hot = F.one_hot(ops, 5).float()
    expected = tiny(x)
    torch.testing.assert_close(sup(x, weights=one_hot), expected)
    torch.testing.assert_close(sup(x, index=ops), expected)
    torch.testing.assert_close(sup(x, weights=one_hot, index=ops), expected)


def test_parameters_and_shapes():
    sup = NB201Supernet(C=4, N=1, num_classes=7, in_channels=1)
    assert sup.alpha_shape == (6, 5) and sup.space_name == "nb201" and len(sup.op_names) == 5
    x = torch.randn(2, 1, 8, 8)
    sup.eval()
    assert sup(x).shape == (2, 7)
    torch.testing.assert_close(sup(x), sup(x, weights=torch.full((6, 5), 0.2)))  # neither: uniform mixture
    assert all(p.requires_grad for p in sup.parameters())
    # same count as NB201's reference: per edge conv1x1 and conv3x3 with bias (BN affine=False, no params)
    stacked = sum(p.numel() for cell in sup.cells if isinstance(cell, SearchCell) for p in cell.parameters())
    assert stacked == sum(6 * (c * c + c + 9 * c * c + c) for c in (4, 8, 16))


def test_bad_arguments():
    sup = NB201Supernet(C=4, N=1)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="shape"):
        sup(x, weights=torch.ones(5, 6))
    with pytest.raises(ValueError, match="index"):
        sup(x, index=torch.zeros(6))
    with pytest.raises(ValueError, match="outside"):
        sup(x, index=torch.full((6,), 5))


def test_zero_weight_ops_are_skipped(monkeypatch):
    sup = NB201Supernet(C=4, N=1)
    calls = []
    real = SearchCell.conv

    def counting(self, s, o, slots, r):
        calls.append((s, o))
        return real(self, s, o, slots, r)

    monkeypatch.setattr(SearchCell, "conv", counting)
    w = torch.zeros(6, 5)
    w[:, 1] = 1.0  # all skip: no conv anywhere
    sup(torch.randn(2, 3, 8, 8), weights=w)
    assert calls == []
    w[0, CONV1] = 0.5
    sup(torch.randn(2, 3, 8, 8), weights=w)
    assert set(calls) == {(0, CONV1)} and len(calls) == 3  # one per cell


def test_straight_through_gradient_reaches_every_alpha():
    torch.manual_seed(0)
    sup = NB201Supernet(C=4, N=1)
    alpha = (1e-3 * torch.randn(6, 5)).requires_grad_()
    p = alpha.softmax(-1)
    k = torch.tensor([0, 1, 2, 3, 4, 3])
    w = F.one_hot(k, 5).float() - p.detach() + p
    sup(torch.randn(4, 3, 8, 8), weights=w, index=k).logsumexp(1).sum().backward()
    assert alpha.grad is not None and bool((alpha.grad != 0).all())


def test_mixture_is_linear_in_the_weights():
    """In eval mode the soft output is linear in the per-edge weights of one cell (a mixture of ops)."""
    torch.manual_seed(0)
    cell = SearchCell(4).eval()
    x = torch.randn(2, 4, 6, 6)
    from archscout.nn._supernet import make_plan

    w = torch.zeros(6, 5)
    w[:, 1] = 1.0
    base = cell(x, make_plan(w, None, (6, 5)))
    w2 = w.clone()
    w2[5] = torch.tensor([0.0, 0.5, 0.0, 0.5, 0.0])
    w3 = w.clone()
    w3[5] = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0])
    mid = cell(x, make_plan(w2, None, (6, 5)))
    end = cell(x, make_plan(w3, None, (6, 5)))
    torch.testing.assert_close(mid, (base + end) / 2)
