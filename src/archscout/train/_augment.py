"""Augmentation and normalization on image tensors (no torchvision): random crop with zero padding,
horizontal flip, and a normalizing wrapper so that a saved model takes images in [0, 1]. The draws come
from a CPU generator (the same on every accelerator); the images stay where they are."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Each image of a batch (B, C, H, W) zero-padded by ``padding`` and cropped back at a random offset."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy, dx = torch.randint(0, 2 * padding + 1, (2, b), generator=gen).to(x.device)  # drawn on the CPU
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image flipped left-right with probability 1/2."""
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment(x: torch.Tensor, padding: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    x = random_crop(x, padding, gen)
    return random_flip(x, gen) if flip else x


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of a batch of images (the training data's)."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()


class Classifier(nn.Module):
    """A network behind a fixed per-channel normalization: takes images in [0, 1], returns logits."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
