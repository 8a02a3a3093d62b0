"""ONNX export of a trained classifier and its verification against PyTorch (ONNX Runtime)."""

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from archscout.exceptions import ArchscoutError
from archscout.train import Classifier
from archscout.train._export import OnnxMismatchError, compare_outputs, export_onnx, onnx_outputs, verify_onnx
from archscout.train._model import build_net
from helpers import one_line

torch.set_num_threads(1)


@pytest.fixture
def model():
    torch.manual_seed(0)
    net = build_net("nb201", __import__("archscout").spaces.get_space("nb201").from_index(11472),
                    {"C": 4, "N": 1}, 10, 3)
    m = Classifier(net, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3])
    m.train()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for _ in range(3):
            m(torch.rand(16, 3, 16, 16))
    return m.eval()


def test_export_verifies_with_a_dynamic_batch(model, tmp_path):
    x = torch.rand(32, 3, 16, 16)
    path = export_onnx(model, tmp_path / "m.onnx", x)
    check = verify_onnx(model, path, x, data="random images")
    assert check.passed and check.max_abs_diff <= 1e-4 and check.argmax_agreement == 1.0 and check.images == 32
    for batch in (1, 7):  # the batch axis is dynamic
        np.testing.assert_allclose(onnx_outputs(path, x[:batch]), model(x[:batch]).detach().numpy(), atol=1e-4)
    assert check.to_dict()["tolerance"] == 1e-4
    assert model.training is False


def test_a_tampered_onnx_file_is_caught(model, tmp_path):
    x = torch.rand(16, 3, 16, 16)
    path = export_onnx(model, tmp_path / "m.onnx", x)
    graph = onnx.load(str(path))
    init = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))  # the largest weight tensor
    w = numpy_helper.to_array(init) * 1.01  # a 1 % drift of one weight tensor
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(graph, str(path))
    one_line(OnnxMismatchError, lambda: verify_onnx(model, path, x), "differs from the PyTorch model")
    check = verify_onnx(model, path, x, raise_on_mismatch=False)
    assert not check.passed and check.max_abs_diff > 1e-4


def test_compare_outputs_fails_on_shape_nan_and_small_drifts():
    a = np.zeros((4, 10), dtype=np.float32)
    assert compare_outputs(a, a + 5e-5)["passed"]
    assert not compare_outputs(a, a + 2e-4)["passed"]
    assert not compare_outputs(a, a[:3])["passed"]
    b = a.copy()
    b[0, 0] = np.nan
    assert not compare_outputs(a, b)["passed"] and compare_outputs(a, b)["max_abs_diff"] == float("inf")


def test_an_unreadable_onnx_file_is_a_one_line_error(model, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    one_line(ArchscoutError, lambda: verify_onnx(model, bad, torch.rand(2, 3, 16, 16)), "is not a loadable ONNX model")
