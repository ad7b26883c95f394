"""The interval walk's field against the measured support of gradient rows (torch autograd,
float64, the union over three random images), the whole-image reasons and the size multiples."""

import numpy as np
import pytest
import torch

from cnninterp.convert.aten_graph import translate
from cnninterp.jaxcore.model.graph_field import field_crop, receptive_field
from tests import torch_models
from tests.graph_exports import OpZoo, model_json, weights

pytestmark = pytest.mark.slow  # exports and many backward passes


def field_of(model, channels, folder, height, width):
    graph = translate(model_json(model, channels, folder)).graph
    return receptive_field(graph, weights(model), height, width, channels)


def measured_hull(model, channels, height, width, y, x):
    """(row lo, row hi, col lo, col hi) of the nonzero gradient of logits[:, y, x]."""
    model = model.double()
    rows, cols = np.zeros(height, bool), np.zeros(width, bool)
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        image = torch.randn(1, channels, height, width, dtype=torch.float64, generator=generator)
        image.requires_grad_(True)
        model(image)[0, :, y, x].sum().backward()
        support = (image.grad[0] != 0).any(0).numpy()
        rows, cols = rows | support.any(1), cols | support.any(0)
    r, c = np.flatnonzero(rows), np.flatnonzero(cols)
    return r.min(), r.max(), c.min(), c.max()


def assert_field_is_measured(field, model, channels, height, width, pixels):
    for y, x in pixels:
        (rlo, rhi), (clo, chi) = field.rows, field.cols
        expected = (rlo[y], rhi[y], clo[x], chi[x])
        assert measured_hull(model, channels, height, width, y, x) == expected, (y, x)


def test_basic_unet_is_local_at_256_and_exact(tmp_path):
    model = torch_models.build("monai_basic_unet", 1, 2)
    field = field_of(model, 1, tmp_path, 256, 256)
    assert (field.radius, field.reason, field.size_multiple) == (107, None, 16)
    pixels = [(0, 0), (255, 255), (128, 128), (5, 253), (85, 7)]
    assert_field_is_measured(field, model, 1, 256, 256, pixels)


def test_a_crop_on_the_field_gives_the_same_logits(tmp_path):
    model = torch_models.build("monai_basic_unet", 1, 2).double()
    field = field_of(model.float(), 1, tmp_path, 256, 256)
    model = model.double()
    image = torch.randn(1, 1, 256, 256, dtype=torch.float64)
    whole = model(image).detach()
    for y, x in [(0, 0), (128, 100)]:
        top, bottom, left, right = field_crop(field, y, x, 256, 256)
        assert (bottom - top) < 256 and (right - left) < 256
        crop = model(image[:, :, top:bottom, left:right]).detach()
        torch.testing.assert_close(crop[0, :, y - top, x - left], whole[0, :, y, x])


def test_op_zoo_field_is_exact(tmp_path):
    torch.manual_seed(2)
    model = OpZoo(1, 2).eval()
    field = field_of(model, 1, tmp_path, 48, 40)
    assert field.reason is None and field.size_multiple == 4
    assert_field_is_measured(field, model, 1, 48, 40, [(0, 0), (47, 39), (20, 11), (3, 30)])


def test_smp_unet_sees_everything_at_64(tmp_path):
    model = torch_models.build("smp_unet", 1, 2)
    field = field_of(model, 1, tmp_path, 64, 64)
    assert (field.radius, field.size_multiple) == (63, 32)
    assert_field_is_measured(field, model, 1, 64, 64, [(0, 0), (63, 63), (32, 20)])


@pytest.mark.parametrize(
    ("name", "channels", "multiple", "reason"),
    [
        ("monai_unet", 1, 4, "instance norm in layer model.0.adn.N: every output depends"),
        ("torchvision_lraspp", 3, 16, "global average pooling in layer model.backbone.4.block"),
    ],
)
def test_whole_image_models_say_why(tmp_path, name, channels, multiple, reason):
    model = torch_models.build(name, channels, 2)
    field = field_of(model, channels, tmp_path, 64, 64)
    assert field.radius is None and field.reason.startswith(reason)
    assert field.size_multiple == multiple
    assert measured_hull(model, channels, 64, 64, 0, 0) == (0, 63, 0, 63)


def test_mixing_ops_make_the_field_whole(tmp_path):
    field = field_of(OpZoo(1, 2, mixing=True).eval(), 1, tmp_path, 48, 40)
    assert field.reason == "group norm in layer norm: every output depends on every pixel"


class PaddedSkip(torch.nn.Module):
    """A U-Net's skip as many write it: the upsampled map padded by the size difference (a
    pad whose amounts are sizes computed in the graph). Average pooling: every tap has a
    gradient, so the measured support is the whole dependency."""

    def __init__(self):
        super().__init__()
        self.stem, self.head = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(8, 2, 1)

    def forward(self, x):
        skip = self.stem(x)
        up = torch.nn.functional.interpolate(
            torch.nn.functional.avg_pool2d(skip, 2), scale_factor=2
        )
        dy, dx = skip.size(2) - up.size(2), skip.size(3) - up.size(3)
        up = torch.nn.functional.pad(up, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.head(torch.cat([skip, up], 1))


def test_a_pad_by_computed_sizes_is_walked(tmp_path):
    model = PaddedSkip().eval()
    field = field_of(model, 1, tmp_path, 63, 64)  # odd height: the pad is one row
    assert field.reason is None
    # row 62 is the pad's: the hull per axis (columns over every row) is wider there
    assert_field_is_measured(field, model, 1, 63, 64, [(0, 0), (61, 63), (31, 20), (60, 5)])
    assert field.rows[0][62] == 61 and field.rows[1][62] == 62  # the skip alone
