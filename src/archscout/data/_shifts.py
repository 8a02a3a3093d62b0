"""Shift generators on image tensors: colour correlated with the label, rotation, corruptions and
background textures. Inputs are grey images (N, 1, H, W) in [0, 1]; outputs are RGB (N, 3, H, W).
Randomness comes only from the ``torch.Generator`` passed in, so a domain is a function of its seed."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ten well-separated foreground colours (RGB in [0, 1]); class k is drawn in PALETTE[k % 10]
PALETTE = torch.tensor([
    [1.00, 0.10, 0.10], [0.10, 0.85, 0.10], [0.15, 0.35, 1.00], [1.00, 0.90, 0.10], [0.95, 0.15, 0.95],
    [0.10, 0.95, 0.95], [1.00, 0.55, 0.05], [0.55, 0.25, 0.95], [0.55, 0.75, 0.20], [1.00, 1.00, 1.00],
])


def grey_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1).contiguous()


def noisy_labels(y: torch.Tensor, rate: float, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Each label replaced by a uniformly drawn *other* class with probability ``rate`` (Colored MNIST
    flips 25 % of its labels so that the shape predicts the label less well than the colour does)."""
    flip = torch.rand(len(y), generator=gen) < rate
    other = (y + torch.randint(1, num_classes, (len(y),), generator=gen)) % num_classes
    return torch.where(flip, other, y)


def colour_by_label(x: torch.Tensor, y: torch.Tensor, agreement: float, gen: torch.Generator) -> torch.Tensor:
    """Colored-MNIST-style correlation: the object takes its class's colour with probability
    ``agreement``, else the next class's colour. Training domains use high agreement (0.9, 0.8); a test
    domain with low agreement (0.1) reverses the colour-label relation while keeping every colour/class
    pair that training saw (so the shift is in correlation, not in diversity)."""
    flip = torch.rand(len(y), generator=gen) >= agreement
    colour_id = (y + flip.long()) % len(PALETTE)
    return x * PALETTE[colour_id][:, :, None, None]


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every image by ``degrees`` counter-clockwise about its centre (bilinear, black corners)."""
    if degrees % 360 == 0:
        return x.clone()
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def gaussian_noise(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp_(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def low_contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Contrast scaled by ``factor`` around mid-grey."""
    return 0.5 + factor * (x - 0.5)


def stripes_background(x: torch.Tensor, gen: torch.Generator, strength: float = 0.5) -> torch.Tensor:
    """The object over a background of stripes (random period, orientation and phase per image)."""
    n, _, h, w = x.shape
    period = 3.0 + 4.0 * torch.rand(n, generator=gen)
    angle = math.pi * torch.rand(n, generator=gen)
    phase = 2 * math.pi * torch.rand(n, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    u = xx[None] * torch.cos(angle)[:, None, None] + yy[None] * torch.sin(angle)[:, None, None]
    wave = 0.5 + 0.5 * torch.sin(2 * math.pi * u / period[:, None, None] + phase[:, None, None])
    return torch.maximum(x, strength * wave[:, None])


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Square images of ``size`` pixels (antialiased bilinear; a no-op at the same size)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=x.shape[-1] > size,
                         align_corners=False).clamp_(0.0, 1.0)
