"""The interpreted graphs against PyTorch: logits and gradient rows (d logits[k, y, x] / d image)
of the four test models and an op zoo, in float64 to 1e-10 and float32 to 1e-4."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from cnninterp.convert.aten_graph import translate
from cnninterp.jaxcore.model.interpreter import graph_apply
from tests import torch_models
from tests.graph_exports import OpZoo, model_json, weights

PIXELS = [(0, 0, 0), (1, 31, 17), (0, 63, 63)]  # (class, y, x)


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def interpreted(model, channels, folder):
    """The model's graph apply function (jitted) and the model in float64."""
    graph = translate(model_json(model, channels, folder)).graph
    return jax.jit(graph_apply(graph)), model.double()


def relative_error(ours, theirs) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def check_against_torch(apply, model, channels, size, pixels=PIXELS):
    params = weights(model)
    image = torch.randn(1, channels, *size, dtype=torch.float64, generator=torch.Generator())
    nhwc = jnp.asarray(np.transpose(image.numpy(), (0, 2, 3, 1)))
    logits = np.transpose(np.asarray(apply(params, nhwc)), (0, 3, 1, 2))
    assert relative_error(logits, model(image).detach().numpy()) < 1e-10

    def score(img, k, y, x):
        return apply(params, img)[0, y, x, k]

    row = jax.jit(jax.grad(score))
    for k, y, x in pixels:
        leaf = image.clone().requires_grad_(True)
        model(leaf)[0, k, y, x].backward()
        theirs = np.transpose(leaf.grad.numpy(), (0, 2, 3, 1))
        # rows of the deepest net (LRASPP) differ by up to 1.6e-10: float64 round-off
        assert relative_error(np.asarray(row(nhwc, k, y, x)), theirs) < 1e-9


# Every family in 1 and 3 channels (LRASPP takes 3 only), 2 and 3 classes, and both sizes
# among them: the full product would take minutes of float64 compilation per case (LRASPP at
# 96x128 alone took 2.7 minutes; the converter proves 2 classes of it at 64x64 too).
CASES = [
    ("monai_unet", 1, 3, (96, 128)),
    pytest.param("monai_unet", 3, 2, (64, 64), marks=pytest.mark.slow),
    pytest.param("smp_unet", 1, 2, (64, 64), marks=pytest.mark.slow),
    pytest.param("smp_unet", 3, 3, (96, 128), marks=pytest.mark.slow),
    pytest.param("monai_basic_unet", 1, 2, (96, 128), marks=pytest.mark.slow),
    pytest.param("monai_basic_unet", 3, 3, (64, 64), marks=pytest.mark.slow),
    pytest.param("torchvision_lraspp", 3, 3, (64, 64), marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("name", "channels", "classes", "size"), CASES)
def test_logits_and_rows_match_pytorch_in_float64(x64, tmp_path, name, channels, classes, size):
    model = torch_models.build(name, channels, classes)
    apply, model = interpreted(model, channels, tmp_path)
    check_against_torch(apply, model, channels, size)


@pytest.mark.slow
@pytest.mark.parametrize("mixing", [False, True])
def test_the_op_zoo_matches_pytorch(x64, tmp_path, mixing):
    torch.manual_seed(1)
    apply, model = interpreted(OpZoo(1, 2, mixing).eval(), 1, tmp_path)
    check_against_torch(apply, model, 1, (48, 40), [(0, 0, 0), (1, 20, 33), (0, 47, 39)])


@pytest.mark.parametrize("name", ["tiny_unet", pytest.param("monai_unet", marks=pytest.mark.slow)])
def test_float32_logits_match_pytorch(tmp_path, name):
    """float32 logits. The families' float32 rows are in tests/convert/test_float32_parity.py,
    and the converter reports every model's float32 logits beside its float64 parity."""
    channels = 3 if name == "torchvision_lraspp" else 1
    model = torch_models.build(name, channels, 2)
    graph = translate(model_json(model, channels, tmp_path)).graph
    image = torch.randn(2, channels, 64, 64)
    ours = graph_apply(graph)(
        weights(model), jnp.asarray(np.transpose(image.numpy(), (0, 2, 3, 1)))
    )
    assert ours.dtype == jnp.float32
    theirs = model(image).detach().numpy()
    assert relative_error(np.transpose(np.asarray(ours), (0, 3, 1, 2)), theirs) < 1e-4


def test_forward_and_reverse_mode_agree(x64, tmp_path):
    """jvp and vjp of the same function: <v, J t> == <J^T v, t>."""
    model = torch_models.build("monai_unet", 1, 2)
    graph = translate(model_json(model, 1, tmp_path)).graph
    params = weights(model.double())
    apply = graph_apply(graph)
    rng = np.random.default_rng(0)
    image, tangent = jnp.asarray(rng.normal(size=(2, 2, 32, 32, 1)))
    cotangent = jnp.asarray(rng.normal(size=(2, 32, 32, 2)))
    _, forward = jax.jvp(lambda x: apply(params, x), (image,), (tangent,))
    _, pullback = jax.vjp(lambda x: apply(params, x), image)
    (reverse,) = pullback(cotangent)
    assert np.isclose(np.vdot(cotangent, forward), np.vdot(reverse, tangent), rtol=1e-10)
