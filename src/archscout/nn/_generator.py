"""NAS-OoD's conditional generator (algorithms.md §3.3): a StarGAN-like encoder/residual/decoder whose
output is added to its input, conditioned on a source-domain code and a target-domain code.

Layout (``channels`` = cd; the paper: cd = 64 and 3 residual blocks; the CPU profile: 16 and 1):

- stem: Conv 7x7 (in_ch -> cd, pad 3, no bias) -> InstanceNorm (affine, running stats) -> ReLU;
- the two codes, one-hot vectors of length D + 1 (index D = "a novel domain"), tiled over H x W and
  concatenated as channels (cd + 2 (D + 1));
- down: Conv 4x4 stride 2 (-> 2 cd) -> IN -> ReLU; Conv 4x4 stride 2 (-> 4 cd) -> IN -> ReLU;
- ``res_blocks`` residual blocks at 4 cd (Conv 3x3 -> IN -> ReLU -> Conv 3x3 -> IN, plus identity);
- up: ConvTranspose 4x4 stride 2 (-> 2 cd) -> IN -> ReLU; ConvTranspose 4x4 stride 2 (-> cd) -> IN -> ReLU;
- Conv 7x7 (cd -> in_ch, pad 3, no bias) -> tanh; **output = tanh(...) + x** (residual, not clipped).

Any H and W: an input whose sides are not multiples of 4 (two stride-2 stages and back) is padded
(replicate) and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConditionalGenerator"]


def _norm(c: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(c, affine=True, track_running_stats=True)


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), _norm(c), nn.ReLU(inplace=True),
                                  nn.Conv2d(c, c, 3, padding=1, bias=False), _norm(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConditionalGenerator(nn.Module):
    """``G(x, source, target)``: images shifted from domain ``source`` towards domain ``target``.

    Args:
        in_channels: image channels.
        num_domains: D, the number of training domains; codes have length D + 1 (``novel`` = D).
        channels: cd, the stem's width (64 in the paper).
        res_blocks: residual blocks at the bottleneck (3 in the paper).

    ``forward(x, source, target)``: ``source`` and ``target`` are integer domain codes (N,) or one-hot /
    soft codes (N, D + 1).
    """

    def __init__(self, in_channels: int = 3, num_domains: int = 3, channels: int = 64, res_blocks: int = 3):
        super().__init__()
        if num_domains < 1 or channels < 1 or res_blocks < 0:
            raise ValueError(f"need num_domains >= 1, channels >= 1, res_blocks >= 0; got {num_domains}, "
                             f"{channels}, {res_blocks}")
        self.in_channels, self.num_domains, self.codes = in_channels, num_domains, num_domains + 1
        cd = channels
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.stem = nn.Sequential(nn.Conv2d(in_channels, cd, 7, padding=3, bias=False), _norm(cd), relu())
        self.down = nn.Sequential(
            nn.Conv2d(cd + 2 * self.codes, 2 * cd, 4, stride=2, padding=1, bias=False), _norm(2 * cd), relu(),
            nn.Conv2d(2 * cd, 4 * cd, 4, stride=2, padding=1, bias=False), _norm(4 * cd), relu())
        self.res = nn.Sequential(*[_ResBlock(4 * cd) for _ in range(res_blocks)])
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * cd, 2 * cd, 4, stride=2, padding=1, bias=False), _norm(2 * cd), relu(),
            nn.ConvTranspose2d(2 * cd, cd, 4, stride=2, padding=1, bias=False), _norm(cd), relu())
        self.out = nn.Conv2d(cd, in_channels, 7, padding=3, bias=False)

    @property
    def novel(self) -> int:
        """The code of "an unseen domain" (index D)."""
        return self.num_domains

    def code(self, c: torch.Tensor | int, n: int, device: torch.device | None = None) -> torch.Tensor:
        """A (n, D + 1) float code from integer ids, one id for all (on ``device``), or a given (n, D + 1) code."""
        if isinstance(c, int):
            c = torch.full((n,), c, dtype=torch.long, device=device)
        if c.dim() == 1:
            return F.one_hot(c.long(), self.codes).float()
        if tuple(c.shape) != (n, self.codes):
            raise ValueError(f"a domain code must be (N,) ids or ({n}, {self.codes}); got {tuple(c.shape)}")
        return c.float()

    def forward(self, x: torch.Tensor, source: torch.Tensor | int, target: torch.Tensor | int) -> torch.Tensor:
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"generator expects {self.in_channels} channels, got {c}")
        ph, pw = -h % 4, -w % 4  # two stride-2 steps: any other size is padded, and the output cropped
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        codes = torch.cat([self.code(source, n, x.device), self.code(target, n, x.device)], 1).to(x.dtype)
        hmap = torch.cat([self.stem(xp), codes[:, :, None, None].expand(n, 2 * self.codes, h + ph, w + pw)], 1)
        return torch.tanh(self.out(self.up(self.res(self.down(hmap)))))[:, :, :h, :w] + x
