"""The PyTorch segmentation models the generic path is proven on, built with random weights
(no downloads), and their exported programs.

Importing this module makes torchvision importable beside a CPU build of torch: PyPI's
torchvision wheel is built against CUDA torch, and its import registers fake kernels for two
C operators (nms, qnms) whose schemas its missing C extension would have defined. Defining the
two schemas here lets the import go through; the segmentation models never call them.
segmentation-models-pytorch imports torchvision (through timm), so it needs this too.
"""

import warnings
from pathlib import Path

import pytest
import torch

_torchvision_ops = None


def _make_torchvision_importable() -> None:
    global _torchvision_ops
    try:
        import torchvision  # noqa: F401
    except RuntimeError as exc:  # "operator torchvision::nms does not exist"
        if "torchvision::" not in str(exc):
            raise
        _torchvision_ops = torch.library.Library("torchvision", "DEF")
        for name in ("nms", "qnms"):
            schema = f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
            _torchvision_ops.define(schema)
    except ImportError:
        pass


_make_torchvision_importable()


class OutOfDict(torch.nn.Module):
    """torchvision's segmentation models return {'out': logits}: this returns the logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def smp_unet(channels: int = 1, classes: int = 2) -> torch.nn.Module:
    """segmentation_models_pytorch Unet, resnet18 encoder: batch norm, a local field."""
    smp = pytest.importorskip("segmentation_models_pytorch")
    return smp.Unet("resnet18", encoder_weights=None, in_channels=channels, classes=classes)


def monai_unet(channels: int = 1, classes: int = 2) -> torch.nn.Module:
    """MONAI UNet with its defaults: instance norm, so every output sees the whole image."""
    nets = pytest.importorskip("monai.networks.nets")
    return nets.UNet(
        spatial_dims=2,
        in_channels=channels,
        out_channels=classes,
        channels=(8, 16, 32),
        strides=(2, 2),
    )


def monai_basic_unet(channels: int = 1, classes: int = 2) -> torch.nn.Module:
    """MONAI BasicUNet with batch norm: a local field."""
    nets = pytest.importorskip("monai.networks.nets")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "BasicUNet features: ..." printed by MONAI
        return nets.BasicUNet(
            spatial_dims=2,
            in_channels=channels,
            out_channels=classes,
            features=(8, 8, 16, 32, 64, 8),
            norm="batch",
        )


def torchvision_lraspp(channels: int = 3, classes: int = 2) -> torch.nn.Module:
    """torchvision LRASPP-MobileNetV3-Large: global pooling (whole-image field); 3 channels."""
    segmentation = pytest.importorskip("torchvision.models.segmentation")
    if channels != 3:
        pytest.skip("torchvision's LRASPP takes RGB images")
    model = segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=classes
    )
    return OutOfDict(model)


class TinyUNet(torch.nn.Module):
    """A two-level U-Net small enough for fast tests: batch norm, max pooling, nearest
    upsampling and a skip connection; a local field of a few pixels."""

    def __init__(self, channels: int = 1, classes: int = 2):
        super().__init__()
        nn = torch.nn
        self.down = nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.deep = nn.Sequential(
            nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(12, classes, 3, padding=1)

    def forward(self, x):
        skip = self.down(x)
        return self.head(torch.cat([skip, self.up(self.deep(skip))], dim=1))


def tiny_unet(channels: int = 1, classes: int = 2) -> torch.nn.Module:
    return TinyUNet(channels, classes)


MODELS = {
    "tiny_unet": tiny_unet,
    "smp_unet": smp_unet,
    "monai_unet": monai_unet,
    "monai_basic_unet": monai_basic_unet,
    "torchvision_lraspp": torchvision_lraspp,
}


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The model in eval mode with non-trivial BatchNorm statistics (fresh ones are 0 and 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                shape = module.running_mean.shape
                module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
    return model.eval()


def build(name: str, channels: int, classes: int, seed: int = 0) -> torch.nn.Module:
    """One of MODELS with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return randomised(MODELS[name](channels, classes), seed)


def export(model: torch.nn.Module, channels: int, size: tuple[int, int] = (64, 64)):
    """torch.export of the model with dynamic height and width, as the README tells users."""
    example = torch.randn(1, channels, *size)
    dims = {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}
    return torch.export.export(model.eval(), (example,), dynamic_shapes=(dims,))


def save_pt2(model: torch.nn.Module, channels: int, path: Path) -> Path:
    """The model exported and saved with torch.export.save at `path`."""
    torch.export.save(export(model, channels), str(path))
    return path
