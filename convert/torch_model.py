"""The PyTorch reference: `CustomResNet` exactly as users trained it (docs/ORIGINAL.md §1).

Used to verify every conversion, to train the demo model and as the baseline in tests and
benchmarks. Module names must stay as they are: they are the state-dict keys users have.
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.skip(x))


class CustomResNet(nn.Module):
    """Input [B, 1, H, W] in [0, 1], H and W multiples of 16 -> logits [B, classes, H, W]."""

    def __init__(self, num_classes: int = 2, width: int = 64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(1, w, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.resblock1 = ResidualBlock(w, 2 * w)
        self.resblock2 = ResidualBlock(2 * w, 4 * w)
        self.resblock3 = ResidualBlock(4 * w, 8 * w)
        self.resblock4 = ResidualBlock(8 * w, 16 * w)
        up: dict[str, Any] = dict(kernel_size=3, stride=2, padding=1, output_padding=1)
        self.upconv1 = nn.ConvTranspose2d(16 * w, 8 * w, **up)
        self.upconv2 = nn.ConvTranspose2d(8 * w, 4 * w, **up)
        self.upconv3 = nn.ConvTranspose2d(4 * w, 2 * w, **up)
        self.upconv4 = nn.ConvTranspose2d(2 * w, w, **up)
        self.final = nn.Conv2d(w, num_classes, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.bn1(self.conv1(x)))
        x2 = self.resblock1(x1)
        x3 = self.resblock2(x2)
        x4 = self.resblock3(x3)
        x5 = self.resblock4(x4)
        y = self.upconv1(x5)[..., : x4.shape[2], : x4.shape[3]] + x4
        y = self.upconv2(y)[..., : x3.shape[2], : x3.shape[3]] + x3
        y = self.upconv3(y)[..., : x2.shape[2], : x2.shape[3]] + x2
        y = self.upconv4(y)[..., : x1.shape[2], : x1.shape[3]] + x1
        return self.final(y)


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics, so tests exercise them."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(1 + 0.2 * torch.randn(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model


def random_model(width: int = 8, classes: int = 2, seed: int = 0) -> CustomResNet:
    """A reproducible random CustomResNet in eval mode."""
    torch.manual_seed(seed)
    model = CustomResNet(classes, width)
    randomize_batchnorm(model, seed).eval()
    return model


def torch_vessel_probability(model: nn.Module, image: torch.Tensor, vessel_class: int = 1):
    """p [H, W] = softmax(model(image[None, None]))[vessel] of one image [H, W]."""
    return torch.softmax(model(image[None, None]), dim=1)[0, vessel_class]
