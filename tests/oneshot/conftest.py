import pytest
import torch

from archscout.data import load_split

torch.set_num_threads(1)
TINY = {"C": 4, "N": 1, "image_size": 8, "epochs": 2, "batch_size": 32, "train_images": 96, "val_images": 96}


@pytest.fixture(scope="session")
def digits():
    return load_split("digits-shift", "style", seed=0)


@pytest.fixture(scope="session")
def raspi4():
    from archscout.oneshot import OpCost

    return OpCost.fit(device="raspi4")
