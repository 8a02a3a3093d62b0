"""FBNet network (HW-NAS-Bench): shapes, module structure, parameter count, init."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.nn._fbnet import ConvBlock, FBNetNetwork, Skip, channel_shuffle
from archscout.spaces._base import get_space


def _logits(net: nn.Module, size: int, batch: int = 1) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return net(torch.randn(batch, 3, size, size))


@pytest.mark.parametrize("ops", [[0] * 22, [8] * 22, [7] * 22, list(range(9)) * 2 + [1, 5, 8, 3]])
def test_forward_cifar100(ops):
    out = _logits(FBNetNetwork(ops, dataset="cifar100"), 32)
    assert out.shape == (1, 100)
    assert torch.isfinite(out).all()


def test_forward_random_archs_via_space():
    space = get_space("fbnet")
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        net = space.build(arch)
        assert isinstance(net, FBNetNetwork)
        assert net.ops == arch.ops
        assert _logits(net, 32, batch=2).shape == (2, 100)


def test_build_from_string_and_options():
    space = get_space("fbnet")
    net = space.build(" ".join(["k3_e1_g2"] * 22), num_classes=10, in_channels=1)
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_train_mode_backward():
    net = FBNetNetwork([5, 1, 8, 2, 0] * 4 + [6, 8])
    out = net(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert net.stem.conv.weight.grad is not None


def test_forward_imagenet():
    net = FBNetNetwork([0] * 22, dataset="ImageNet")
    assert net.header.conv.out_channels == 1984
    assert net.fc.out_features == 1000
    assert _logits(net, 224).shape == (1, 1000)


def test_bad_inputs():
    with pytest.raises(InvalidArchError):
        FBNetNetwork([0] * 21)
    with pytest.raises(InvalidArchError):
        FBNetNetwork([0] * 21 + [9])
    with pytest.raises(InvalidArchError):
        FBNetNetwork(["k3_e1"] * 21 + ["conv"])
    with pytest.raises(UnknownNameError):
        FBNetNetwork([0] * 22, dataset="imagenet")
    assert FBNetNetwork(["k3_e1"] * 22).ops == (0,) * 22


def test_structure_matches_official_printout():
    net = FBNetNetwork([0] * 22, dataset="cifar100")
    assert len(net.layers) == 22
    assert all(isinstance(layer, ConvBlock) for layer in net.layers)

    stem = net.stem.conv
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding) == (
        3, 16, (3, 3), (1, 1), (1, 1),
    )
    assert stem.bias is None

    l1 = net.layers[1]
    assert (l1.conv1.in_channels, l1.conv1.out_channels, l1.conv1.kernel_size) == (16, 16, (1, 1))
    assert (l1.conv2.in_channels, l1.conv2.out_channels, l1.conv2.kernel_size) == (16, 16, (3, 3))
    assert l1.conv2.groups == 16 and l1.conv2.stride == (1, 1) and l1.conv2.padding == (1, 1)
    assert (l1.conv3.in_channels, l1.conv3.out_channels, l1.conv3.kernel_size) == (16, 24, (1, 1))
    assert not l1.use_residual
    assert net.layers[2].use_residual

    l5 = net.layers[5]
    assert (l5.conv1.in_channels, l5.conv1.out_channels) == (24, 24)
    assert (l5.conv2.in_channels, l5.conv2.out_channels, l5.conv2.groups) == (24, 24, 24)
    assert l5.conv2.stride == (2, 2) and l5.conv2.padding == (1, 1)
    assert (l5.conv3.in_channels, l5.conv3.out_channels) == (24, 32)

    head = net.header.conv
    assert (head.in_channels, head.out_channels, head.kernel_size) == (352, 1504, (1, 1))
    assert (net.fc.in_features, net.fc.out_features) == (1504, 100)
    assert net.fc.bias is not None
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            assert m.bias is None


def test_block_variants():
    b = ConvBlock(24, 32, expansion=6, kernel=5, stride=2, group=1)
    assert b.conv1.out_channels == 144  # expansion multiplies C_in
    assert b.conv2.padding == (2, 2) and b.conv2.groups == 144
    assert b(torch.randn(1, 24, 16, 16)).shape == (1, 32, 8, 8)
    g = ConvBlock(32, 32, expansion=1, kernel=3, stride=1, group=2)
    assert g.conv1.groups == 2 and g.conv3.groups == 2 and g.use_residual
    assert g(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)

    s = Skip(32, 32, 1)
    assert s.is_identity and not list(s.parameters())
    x = torch.randn(1, 32, 4, 4)
    assert s(x) is x
    s2 = Skip(24, 32, 2)
    assert not s2.is_identity
    assert s2.conv.kernel_size == (1, 1) and s2.conv.stride == (2, 2)
    assert s2(torch.randn(1, 24, 8, 8)).shape == (1, 32, 4, 4)
    # skip in a stage's first layer with stride 1 but a change of width is still a conv
    assert not Skip(16, 24, 1).is_identity


def test_skip_network_layers():
    net = FBNetNetwork([8] * 22, dataset="cifar100")
    real = [i for i, layer in enumerate(net.layers) if not layer.is_identity]
    assert real == [1, 5, 9, 13, 17, 21]  # first layers of stages 1..6 change width
    assert net.layers[0].is_identity  # 16 -> 16, stride 1


def test_channel_shuffle():
    x = torch.arange(6, dtype=torch.float32).reshape(1, 6, 1, 1)
    y = channel_shuffle(x, 2).flatten().tolist()
    assert y == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 1) is x


def test_init():
    torch.manual_seed(0)
    net = FBNetNetwork([3] * 22)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(net.fc.bias == 0)
    assert 0.0005 < net.fc.weight.std().item() < 0.002
    w = net.header.conv.weight  # fan_out = 1504 * 1 * 1
    assert abs(w.std().item() - (2 / 1504) ** 0.5) < 0.1 * (2 / 1504) ** 0.5


# -- parameter count by a closed form, independent of the library's layer schedule ---------------

_OPS = {  # kernel, expansion, group; None = skip
    0: (3, 1, 1), 1: (3, 1, 2), 2: (3, 3, 1), 3: (3, 6, 1),
    4: (5, 1, 1), 5: (5, 1, 2), 6: (5, 3, 1), 7: (5, 6, 1), 8: None,
}


def _closed_form_params(ops, header=1504, classes=100):
    bn = lambda c: 2 * c  # noqa: E731  (weight + bias; running stats are buffers)
    total = 3 * 16 * 9 + bn(16)  # stem
    c_prev = 16
    layer = 0
    for n, c in zip((1, 4, 4, 4, 4, 4, 1), (16, 24, 32, 64, 112, 184, 352)):
        for i in range(n):
            ci = c_prev if i == 0 else c
            op = _OPS[ops[layer]]
            if op is None:
                if ci != c:  # every stride-2 first layer also changes width
                    total += ci * c + bn(c)
            else:
                k, e, g = op
                mid = ci * e
                total += (ci // g) * mid + bn(mid)  # 1x1 expand, groups g
                total += mid * k * k + bn(mid)  # depthwise
                total += (mid // g) * c + bn(c)  # 1x1 project, groups g
            layer += 1
        c_prev = c
    total += 352 * header + bn(header)
    total += header * classes + classes
    return total


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_param_count_zeros_closed_form():
    # all k3_e1 on CIFAR-100, written out stage by stage
    stem = 3 * 16 * 9 + 32
    block = lambda ci, co: ci * ci + 2 * ci + ci * 9 + 2 * ci + ci * co + 2 * co  # noqa: E731
    layers = block(16, 16)
    for ci, co in ((16, 24), (24, 32), (32, 64), (64, 112), (112, 184)):
        layers += block(ci, co) + 3 * block(co, co)
    layers += block(184, 352)
    head = 352 * 1504 + 2 * 1504 + 1504 * 100 + 100
    expected = stem + layers + head
    assert expected == _closed_form_params([0] * 22)
    assert _count(FBNetNetwork([0] * 22, dataset="cifar100")) == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_param_count_random_closed_form(seed):
    ops = np.random.default_rng(seed).integers(0, 9, 22).tolist()
    assert _count(FBNetNetwork(ops)) == _closed_form_params(ops)


def test_param_count_all_skip():
    assert _count(FBNetNetwork([8] * 22)) == _closed_form_params([8] * 22)
