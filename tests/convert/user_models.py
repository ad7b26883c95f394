"""Model code a user would write, for `cnninterp-convert --from tests.convert.user_models:NAME`."""

import torch

from tests import torch_models


def small_unet() -> torch.nn.Module:
    """MONAI's BasicUNet at small widths: batch norm, max pooling, a local field."""
    return torch_models.build("monai_basic_unet", 1, 2)


def smp_unet() -> torch.nn.Module:
    """segmentation_models_pytorch's Unet with a resnet18 encoder, one channel, two classes."""
    return torch_models.build("smp_unet", 1, 2)


class Spectrum(torch.nn.Module):
    def forward(self, x):
        return torch.fft.fft2(x).real


class WithFft(torch.nn.Module):
    """A convolution, then an op the interpreter does not know (torch.fft) in layer `spectrum`."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.spectrum = Spectrum()

    def forward(self, x):
        return self.spectrum(self.head(x))


NOT_CALLABLE = 3


def not_a_module():
    return "a string"
