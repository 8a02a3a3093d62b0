"""Every entry point that trains or searches (train, oneshot, the main job, the training evaluator,
autospace) runs with ``--accelerator cpu`` (and ``cuda`` where there is one), and every module's
forward sees its parameters, buffers and tensor inputs on that one device."""

import pytest
import torch

from archscout.cli import main

ENTRY_POINTS = {
    "train": ["train", "--arch", "11472", "--suite", "digits-shift", "--split", "correlation", "--epochs", "1",
              "--batch-size", "32", "--net", "C=4", "--net", "N=1"],
    "oneshot": ["oneshot", "--method", "darts", "--suite", "digits-shift", "--split", "style", "--epochs", "1"],
    "main job": ["search", "--suite", "digits-shift", "--profile", "smoke"],
    "training evaluator": ["search", "--multi-trial", "--evaluator", "train", "--suite", "digits-shift",
                           "--split", "correlation", "--profile", "smoke", "--trials", "2", "--strategy", "random"],
    "autospace": ["space", "evolve", "--suite", "digits-shift", "--split", "correlation", "--profile", "ci",
                  "--iterations", "1", "--per-domain", "40"],
}
ACCELERATORS = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("accelerator", ACCELERATORS)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_model_and_data_share_the_accelerator(capsys, tmp_path, entry, accelerator):
    seen, mixed = set(), []

    def check(module, inputs):
        devices = {t.device for t in (*module.parameters(recurse=False), *module.buffers(recurse=False))}
        devices |= {x.device for x in inputs if isinstance(x, torch.Tensor)}
        seen.update(devices)
        if len(devices) > 1:
            mixed.append(f"{type(module).__name__}: {devices}")

    hook = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        code = main([*ENTRY_POINTS[entry], "--run-dir", str(tmp_path), "--accelerator", accelerator])
    finally:
        hook.remove()
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    assert not mixed, mixed[:5]
    types = {d.type for d in seen}
    assert accelerator in types and types <= {accelerator, "cpu"}  # ONNX export and timing: CPU copies
