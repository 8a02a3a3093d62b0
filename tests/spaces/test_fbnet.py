"""FBNet space (HW-NAS-Bench): strings, parsing, errors, layer schedule, search moves."""

from __future__ import annotations

import numpy as np
import pytest

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.spaces._base import Arch, get_space
from archscout.spaces._fbnet import (
    FBNET_DATASETS,
    FBNET_OP_PARAMS,
    FBNET_OPS,
    FBNetConfig,
    FBNetOp,
    FBNetSpace,
    LayerSpec,
    fbnet_config,
    fbnet_layers,
    fbnet_op,
    fbnet_output_size,
)
from helpers import one_line


@pytest.fixture(scope="module")
def space() -> FBNetSpace:
    return get_space("fbnet")


def test_registered(space):
    assert isinstance(space, FBNetSpace)
    assert space.name == "fbnet"
    assert space.choices == (9,) * 22
    assert space.size == 9**22
    assert space.param_names == tuple(f"layer_{i:02d}" for i in range(22))
    assert space.param_names[0] == "layer_00" and space.param_names[-1] == "layer_21"


def test_ops_and_params():
    assert FBNET_OPS == (
        "k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip",
    )
    assert FBNET_OP_PARAMS[0] == FBNetOp(kernel=3, expansion=1, group=1)
    assert FBNET_OP_PARAMS[1] == FBNetOp(3, 1, 2)
    assert FBNET_OP_PARAMS[2] == FBNetOp(3, 3, 1)
    assert FBNET_OP_PARAMS[3] == FBNetOp(3, 6, 1)
    assert FBNET_OP_PARAMS[4] == FBNetOp(5, 1, 1)
    assert FBNET_OP_PARAMS[5] == FBNetOp(5, 1, 2)
    assert FBNET_OP_PARAMS[6] == FBNetOp(5, 3, 1)
    assert FBNET_OP_PARAMS[7] == FBNetOp(5, 6, 1)
    assert FBNET_OP_PARAMS[8] is None
    assert fbnet_op("k5_e6") == FBNetOp(5, 6, 1)
    assert fbnet_op(8) is None
    with pytest.raises(UnknownNameError):
        fbnet_op("k7_e1")
    with pytest.raises(InvalidArchError):
        fbnet_op(9)


def test_to_str(space):
    arch = space.make([0] * 22)
    assert space.to_str(arch) == " ".join(["k3_e1"] * 22)
    assert str(arch) == space.to_str(arch)
    arch = space.make(list(range(9)) + [8] * 13)
    assert space.to_str(arch).split(" ")[:9] == list(FBNET_OPS)
    assert "  " not in space.to_str(arch)


def test_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.from_str(space.to_str(arch)) == arch
        assert space.parse(space.to_str(arch)) == arch


def test_from_str_forms(space):
    ops = [0, 1, 2, 3, 4, 5, 6, 7, 8] * 2 + [8, 0, 3, 5]
    expected = Arch("fbnet", tuple(ops))
    names = [FBNET_OPS[o] for o in ops]
    assert space.from_str(" ".join(names)) == expected
    assert space.from_str(",".join(names)) == expected
    assert space.from_str(", ".join(names)) == expected
    assert space.from_str("  " + "\t".join(names) + "\n") == expected
    assert space.from_str(" ".join(map(str, ops))) == expected
    assert space.from_str(",".join(map(str, ops))) == expected
    assert space.from_str(str(ops)) == expected  # "[0, 1, 2, ...]"
    assert space.from_str(str(tuple(ops))) == expected  # "(0, 1, ...)"
    assert space.from_str(str(names)) == expected  # "['k3_e1', 'k3_e1_g2', ...]"
    mixed = [names[i] if i % 2 else str(o) for i, o in enumerate(ops)]
    assert space.from_str(" ".join(mixed)) == expected
    assert space.from_str("[" + ", ".join(mixed) + "]") == expected


def test_from_str_zeros(space):
    assert space.from_str("[" + ", ".join(["0"] * 22) + "]") == space.make([0] * 22)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (" ".join(["k3_e1"] * 21), "21 ops, expected 22"),
        (" ".join(["k3_e1"] * 23), "23 ops, expected 22"),
        ("", "0 ops, expected 22"),
        ("[]", "0 ops, expected 22"),
        (" ".join(["k3_e1"] * 21 + ["k7_e1"]), "'k7_e1'"),
        (" ".join(["0"] * 21 + ["9"]), "'9'"),
        (" ".join(["0"] * 21 + ["-1"]), "'-1'"),
        (" ".join(["K3_E1"] + ["0"] * 21), "'K3_E1'"),
    ],
)
def test_from_str_errors(space, text, fragment):
    one_line(InvalidArchError, lambda: space.from_str(text), fragment)


def test_unknown_op_message_lists_accepted(space):
    with pytest.raises(InvalidArchError) as info:
        space.from_str(" ".join(["k3_e1"] * 10 + ["conv"] + ["k3_e1"] * 11))
    msg = str(info.value)
    assert "'conv'" in msg and "position 10" in msg
    for name in FBNET_OPS:
        assert name in msg


def test_make_errors(space):
    with pytest.raises(InvalidArchError):
        space.make([0] * 21)
    with pytest.raises(InvalidArchError):
        space.make([0] * 21 + [9])


def test_config():
    assert FBNET_DATASETS == ("cifar100", "ImageNet")
    c = fbnet_config("cifar100")
    assert isinstance(c, FBNetConfig)
    assert (c.num_classes, c.stem_stride, c.header_channels, c.input_size) == (100, 1, 1504, 32)
    assert c.stage_strides == (1, 1, 2, 2, 1, 2, 1)
    i = fbnet_config("ImageNet")
    assert (i.num_classes, i.stem_stride, i.header_channels, i.input_size) == (1000, 2, 1984, 224)
    assert i.stage_strides == (1, 2, 2, 2, 1, 2, 1)
    with pytest.raises(AttributeError):
        c.num_classes = 10  # frozen
    for bad in ("imagenet", "CIFAR100", "cifar10", ""):
        with pytest.raises(UnknownNameError) as info:
            fbnet_config(bad)
        assert info.value.kind == "dataset"
        assert "cifar100" in str(info.value) and "ImageNet" in str(info.value)


STAGE_OF_LAYER = [0] + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [6]
CHANNELS = (16, 24, 32, 64, 112, 184, 352)


def _check_schedule(layers, stage_h, strides):
    assert len(layers) == 22
    assert all(isinstance(spec, LayerSpec) for spec in layers)
    for idx, spec in enumerate(layers):
        s = STAGE_OF_LAYER[idx]
        first = idx == 0 or STAGE_OF_LAYER[idx - 1] != s
        assert spec.c_out == CHANNELS[s]
        if first:
            assert spec.c_in == (16 if s == 0 else CHANNELS[s - 1])
            assert spec.stride == strides[s]
            # H entering the first layer is the previous stage's output size
            assert spec.h == (stage_h[s] * strides[s])
        else:
            assert spec.c_in == spec.c_out
            assert spec.stride == 1
            assert spec.h == stage_h[s]


def test_layers_cifar100():
    layers = fbnet_layers("cifar100")
    # 32 -> 32 (stages 0, 1) -> 16 -> 8 -> 8 -> 4 -> 4
    stage_h = (32, 32, 16, 8, 8, 4, 4)
    _check_schedule(layers, stage_h, (1, 1, 2, 2, 1, 2, 1))
    assert layers[0] == LayerSpec(h=32, c_in=16, c_out=16, stride=1)
    assert layers[1] == LayerSpec(32, 16, 24, 1)
    assert layers[5] == LayerSpec(32, 24, 32, 2)
    assert layers[6] == LayerSpec(16, 32, 32, 1)
    assert layers[9] == LayerSpec(16, 32, 64, 2)
    assert layers[13] == LayerSpec(8, 64, 112, 1)
    assert layers[17] == LayerSpec(8, 112, 184, 2)
    assert layers[21] == LayerSpec(4, 184, 352, 1)
    assert fbnet_output_size("cifar100") == 4


def test_layers_imagenet():
    layers = fbnet_layers("ImageNet")
    # 224 -> stem 112 -> 112 -> 56 -> 28 -> 14 -> 14 -> 7 -> 7
    stage_h = (112, 56, 28, 14, 14, 7, 7)
    _check_schedule(layers, stage_h, (1, 2, 2, 2, 1, 2, 1))
    assert layers[0] == LayerSpec(112, 16, 16, 1)
    assert layers[1] == LayerSpec(112, 16, 24, 2)
    assert layers[2] == LayerSpec(56, 24, 24, 1)
    assert layers[21] == LayerSpec(7, 184, 352, 1)
    assert fbnet_output_size("ImageNet") == 7


def test_layers_default_and_space_method(space):
    assert fbnet_layers() == fbnet_layers("cifar100")
    assert space.layers("ImageNet") == fbnet_layers("ImageNet")
    with pytest.raises(UnknownNameError):
        fbnet_layers("imagenet")


def test_neighbours_and_mutate(space):
    arch = space.make([0] * 22)
    nbrs = space.neighbours(arch)
    assert len(nbrs) == 22 * 8 == 176
    assert len(set(nbrs)) == 176
    for n in nbrs:
        assert sum(a != b for a, b in zip(n.ops, arch.ops)) == 1
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = space.mutate(arch, rng)
        assert m in nbrs


def test_encode(space):
    arch = space.sample(3)
    enc = space.encode(arch)
    assert enc.shape == (198,)
    assert enc.sum() == 22
    for pos, o in enumerate(arch.ops):
        assert enc[pos * 9 + o] == 1.0
    many = space.encode([space.sample(i) for i in range(5)])
    assert many.shape == (5, 198)


def test_sample_reproducible(space):
    assert space.sample(42) == space.sample(42)
    assert all(0 <= o < 9 for o in space.sample(7).ops)


def test_op_names(space):
    arch = space.make([8] + [3] * 21)
    assert space.op_names(arch) == ["skip"] + ["k3_e6"] * 21
