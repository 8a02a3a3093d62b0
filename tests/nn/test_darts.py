"""DARTS evaluation network: ops, cells, shapes on Fashion-MNIST and CIFAR sizes, aux head, size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archscout.nn._darts import OPS, Cell, DartsNetwork, FactorizedReduce, darts_op
from archscout.spaces._base import get_space
from archscout.spaces._darts import DARTS_V2, NASOOD_ONESTAGE, PRIMITIVES


def _params(module: nn.Module, skip: str | None = None) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if skip is None or skip not in n)


def test_every_primitive_has_an_op():
    assert set(PRIMITIVES) <= set(OPS)
    x = torch.randn(2, 8, 9, 9)
    for name in PRIMITIVES:
        for stride, size in ((1, 9), (2, 5)):
            assert darts_op(name, 8, stride)(x).shape == (2, 8, size, size), name
    with pytest.raises(ValueError, match="sep_conv_3x3"):
        darts_op("conv_7x1_1x7", 8, 1)


def test_bn_after_pool_and_identity_skip_only():
    def has_bn(op):
        return isinstance(op, nn.Sequential) and isinstance(op[-1], nn.BatchNorm2d) and not op[-1].affine

    for name in PRIMITIVES:
        plain, nasood = darts_op(name, 4, 1), darts_op(name, 4, 1, bn_after_pool_skip=True)
        assert has_bn(nasood) == (name in ("max_pool_3x3", "avg_pool_3x3", "skip_connect")), name
        assert _params(plain) == _params(nasood)
    assert isinstance(darts_op("skip_connect", 4, 2, bn_after_pool_skip=True), FactorizedReduce)


def test_factorized_reduce_matches_darts_on_even_sizes():
    fr = FactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, 8, 8)
    xr = torch.relu(x)
    expected = fr.bn(torch.cat([fr.conv_1(xr), fr.conv_2(xr[:, :, 1:, 1:])], dim=1))
    torch.testing.assert_close(fr(x), expected)
    assert fr(torch.randn(2, 4, 7, 7)).shape == (2, 6, 4, 4)


def test_cell_shapes():
    normal = Cell(DARTS_V2.normal, 12, 12, 4, reduction=False, reduction_prev=False)
    assert normal(torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8)).shape == (2, 16, 8, 8)
    reduce = Cell(DARTS_V2.reduce, 12, 16, 8, reduction=True, reduction_prev=False)
    assert reduce(torch.randn(2, 12, 8, 8), torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    after = Cell(DARTS_V2.normal, 16, 32, 8, reduction=False, reduction_prev=True)
    assert after(torch.randn(2, 16, 8, 8), torch.randn(2, 32, 4, 4)).shape == (2, 32, 4, 4)
    # stride 2 exactly on the edges from the two cell inputs
    first = [op[0] if isinstance(op, nn.Sequential) else op for op in reduce.ops]  # unwrap pool/skip + BN
    assert isinstance(first[0], nn.MaxPool2d) and first[0].stride == 2  # max_pool_3x3~0
    assert isinstance(first[2], nn.Identity)  # skip_connect~2: node 0, stride 1
    assert isinstance(first[1], nn.MaxPool2d) and first[1].stride == 2  # max_pool_3x3~1
    assert reduce.droppable == (True, True, False, True, True, False, False, True)


@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32), (3, 8), (1, 13)])
def test_forward_shapes(in_channels, size):
    net = DartsNetwork(DARTS_V2, C=8, num_classes=10, layers=5, in_channels=in_channels).eval()
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]  # 5//3 = 1, 10//3 = 3
    with torch.no_grad():
        assert net(torch.randn(2, in_channels, size, size)).shape == (2, 10)


@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32)])
def test_auxiliary_head(in_channels, size):
    torch.manual_seed(0)
    net = DartsNetwork(DARTS_V2, C=8, num_classes=7, layers=5, in_channels=in_channels, auxiliary=True,
                       drop_path_prob=0.2)
    logits, aux = net.train()(torch.randn(2, in_channels, size, size))
    assert logits.shape == aux.shape == (2, 7)
    (logits.sum() + 0.4 * aux.sum()).backward()
    assert net.auxiliary_head.classifier.weight.grad is not None
    with torch.no_grad():
        assert net.eval()(torch.randn(2, in_channels, size, size)).shape == (2, 7)
    plain = DartsNetwork(DARTS_V2, C=8, num_classes=7, layers=5, in_channels=in_channels).train()
    assert plain(torch.randn(2, in_channels, size, size)).shape == (2, 7)


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    net = DartsNetwork(NASOOD_ONESTAGE, C=4, num_classes=3, layers=3, drop_path_prob=0.5).eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x))
        net.train()
        assert not torch.allclose(net(x), net(x))
        net.drop_path_prob = 0.0
        torch.testing.assert_close(net(x), net(x))


def test_network_accepts_a_node_reading_one_input_twice():
    # NAS-OoD's derivation may pick the same input for both edges: outside DartsSpace, fine for the net.
    twice = DARTS_V2._replace(normal=(("sep_conv_3x3", 1), ("skip_connect", 1)) + DARTS_V2.normal[2:])
    net = DartsNetwork(twice, C=4, num_classes=3, layers=3).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_space_build():
    space = get_space("darts")
    net = space.build(space.from_str("DARTS_V2"), C=8, layers=5, num_classes=10, in_channels=1)
    assert isinstance(net, DartsNetwork) and len(net.cells) == 5
    assert net.stem[0].in_channels == 1 and net.stem[0].out_channels == 24
    assert net.auxiliary_head is None
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_darts_v2_parameter_count():
    # DARTS's CIFAR-10 network (C=36, 20 cells, auxiliary) for DARTS_V2. DARTS's train.py prints
    # "param size = 3.349342MB" via utils.count_parameters_in_MB, which sums the parameters whose
    # name does not contain "auxiliary". Ours gives exactly 3,349,342 without the auxiliary head;
    # the head (Conv 576->128 1x1, BN 128, Conv 128->768 2x2, BN 768, Linear 768->10) adds
    # 73,728 + 256 + 393,216 + 1,536 + 7,690 = 476,426.
    net = get_space("darts").build(
        get_space("darts").from_genotype(DARTS_V2), C=36, layers=20, num_classes=10, auxiliary=True,
        bn_after_pool_skip=False,
    )
    assert _params(net, skip="auxiliary") == 3_349_342
    assert _params(net) == 3_349_342 + 476_426
    # NAS-OoD's extra BNs are affine=False: same parameters, more running statistics
    nasood = DartsNetwork(DARTS_V2, C=36, num_classes=10, layers=20, auxiliary=True, bn_after_pool_skip=True)
    assert _params(nasood) == _params(net)
    assert len(nasood.state_dict()) > len(net.state_dict())
