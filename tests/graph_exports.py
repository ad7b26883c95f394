"""Exported PyTorch models as the generic path reads them: the parsed models/model.json of a
saved .pt2 and the state dict as NumPy arrays (what the safe .pt2 reader hands over)."""

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from tests import torch_models


def model_json(model: torch.nn.Module, channels: int, folder: Path) -> dict:
    """models/model.json of the model exported and saved as the README tells users."""
    path = torch_models.save_pt2(model, channels, folder / "model.pt2")
    with zipfile.ZipFile(path) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith("models/model.json")]
        return json.loads(archive.read(member))


def weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """The state dict as NumPy arrays, keyed by state-dict names."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


class OpZoo(torch.nn.Module):
    """A small network over the ops the four test models leave out: grouped, dilated and
    transposed convolutions, average pooling with ceil mode, reflect padding, resizing by
    scale factors and with align_corners, more activations and arithmetic. With `mixing`,
    ops that see the whole image too (group norm, a softmax over space, a permute round trip)."""

    def __init__(self, channels: int = 1, classes: int = 2, mixing: bool = False):
        super().__init__()
        nn = torch.nn
        self.mixing = mixing
        self.stem = nn.Conv2d(channels, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.grouped = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.up = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.norm = nn.GroupNorm(2, 8)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        F = torch.nn.functional
        a = F.silu(self.stem(x))
        a = torch.tanh(self.depthwise(F.pad(a, (1, 1, 1, 1), mode="reflect")))[:, :, 1:-1, 1:-1]
        b = F.gelu(self.grouped(a))
        b = F.hardtanh(self.pool(b))
        b = b - 0.5 * b.mean(dim=1, keepdim=True)
        b = F.interpolate(b, scale_factor=2.0, mode="bilinear", align_corners=True)
        b = F.relu6(self.up(torch.clamp(b, min=-2.0)))
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        b = b / (1.5 + torch.sigmoid(a))
        if self.mixing:
            b = self.norm(b).permute(0, 1, 3, 2).permute(0, 1, 3, 2)
            b = b * torch.softmax(b.flatten(2), dim=-1).view(b.shape) * b.shape[-1]
        return self.head(torch.cat([a, F.leaky_relu(b, 0.1)], dim=1))
