"""Attribution methods against Captum on the same model in PyTorch, and their bad input."""

import threading

import numpy as np
import pytest
import torch
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency

from cnninterp.jaxcore.explain import attribution
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.methods import Method, MethodError, baseline_image, smoothgrad_noise
from cnninterp.jaxcore.explain.targets import Target, target_weights
from tests.jaxcore.torch_reference import Pair, relative_error


@pytest.fixture(scope="module")
def pair():
    return Pair(width=4, seed=5)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(11).random((32, 32), dtype=np.float32)


@pytest.fixture(scope="module")
def attributor(pair):
    return Attributor(pair.explainer)


@pytest.fixture(scope="module", params=["pixel", "segment"])
def target(request, pair, image):
    probability = pair.explainer.probability(image)
    y, x = (int(v) for v in np.argwhere(probability > 0.5)[len(probability) // 2])
    return Target(request.param, y, x)


def torch_target(pair, weights):
    """Captum's forward: the target's scalar, sum_yx w[y, x] p[y, x], per batch item."""
    weights = torch.tensor(weights)

    def forward(batch):  # (B, 1, H, W) -> (B,)
        p = torch.softmax(pair.torch_model(batch), dim=1)[:, 1]
        return (p * weights).sum(dim=(1, 2))

    return forward


def weights_of(pair, image, target):
    return target_weights(target, pair.explainer.probability(image))


def as_batch(array, grad=False):
    """(1, 1, H, W); inputs require gradients before Captum sees them, or it warns."""
    return torch.tensor(array)[None, None].requires_grad_(grad)


def test_gradient_x_input_equals_captum(pair, image, attributor, target):
    forward = torch_target(pair, weights_of(pair, image, target))
    expected = InputXGradient(forward).attribute(as_batch(image, grad=True))[0, 0].detach().numpy()
    ours = attributor.attribute(image, Method("gradxinput"), target)
    assert relative_error(ours.values, expected) < 1e-5
    gradient = attributor.attribute(image, Method("gradient"), target).values
    np.testing.assert_array_equal(ours.values, gradient * image)  # exactly, by definition


@pytest.mark.parametrize("baseline", ["zeros", "blur", "mean"])
@pytest.mark.parametrize("integration, steps", [("gausslegendre", 7), ("riemann_trapezoid", 16)])
def test_integrated_gradients_equal_captum(
    pair, image, attributor, target, baseline, integration, steps
):
    method = Method("ig", steps=steps, integration=integration, baseline=baseline)
    forward = torch_target(pair, weights_of(pair, image, target))
    expected, delta = IntegratedGradients(forward).attribute(
        as_batch(image, grad=True),
        baselines=as_batch(baseline_image(baseline, image)),
        n_steps=steps,
        method=integration,
        return_convergence_delta=True,
    )
    ours = attributor.attribute(image, method, target)
    assert relative_error(ours.values, expected[0, 0].detach().numpy()) < 1e-4
    assert ours.completeness_error == pytest.approx(abs(float(delta[0])), rel=1e-2, abs=1e-6)


def test_smoothgrad_equals_captum_noise_tunnel_with_the_same_noise(
    pair, image, attributor, target, monkeypatch
):
    method = Method("smoothgrad", samples=6, sigma=0.2, seed=4)
    noise = smoothgrad_noise(method, image)

    def same_noise(input, stdev, nt_samples_partition):  # Captum draws its own otherwise
        assert nt_samples_partition == len(noise)
        copies = input.detach().repeat_interleave(nt_samples_partition, dim=0)
        return copies + torch.tensor(noise)[:, None]

    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", staticmethod(same_noise))
    forward = torch_target(pair, weights_of(pair, image, target))
    expected = NoiseTunnel(Saliency(forward)).attribute(
        as_batch(image, grad=True),
        nt_type="smoothgrad",
        nt_samples=len(noise),
        stdevs=0.2,
        abs=False,
    )
    ours = attributor.attribute(image, method, target)
    assert relative_error(ours.values, expected[0, 0].detach().numpy()) < 1e-4
    explicit = attributor.attribute(image, method, target, noise=noise)
    np.testing.assert_array_equal(explicit.values, ours.values)  # the seed's noise is that one


def test_smoothgrad_noise_comes_from_the_seed(image):
    method = Method("smoothgrad", samples=3, sigma=0.1, seed=9)
    np.testing.assert_array_equal(smoothgrad_noise(method, image), smoothgrad_noise(method, image))
    other = smoothgrad_noise(Method("smoothgrad", samples=3, sigma=0.1, seed=10), image)
    assert not np.array_equal(other, smoothgrad_noise(method, image))
    spread = float(image.max() - image.min())
    assert smoothgrad_noise(method, image).std() == pytest.approx(0.1 * spread, rel=0.05)


def test_completeness_error_shrinks_with_more_steps(image, attributor):
    target = Target("vessel")
    errors = [
        attributor.attribute(image, Method("ig", steps=m, baseline="blur"), target) for m in (2, 64)
    ]
    change = abs(errors[1].target_value - errors[1].baseline_value)
    assert change > 1e-3
    assert errors[1].completeness_error < 1e-3 * change
    assert errors[1].completeness_error < errors[0].completeness_error


def test_chunked_inputs_sum_like_one_batch(image, attributor, monkeypatch):
    method = Method("ig", steps=5, integration="riemann_trapezoid")
    whole = attributor.attribute(image, method, Target("border"))
    monkeypatch.setattr(
        attribution, "MAX_CHUNK", {"cpu": 2, "gpu": 2}
    )  # 2 + 2 + (1 and a zero-weight pad)
    shares = []
    chunked = attributor.attribute(image, method, Target("border"), on_progress=shares.append)
    assert shares == [0.4, 0.8, 1.0]
    assert relative_error(chunked.values, whole.values) < 1e-6


def test_cancel_returns_none(image, attributor):
    cancel = threading.Event()
    cancel.set()
    assert attributor.attribute(image, Method("ig"), Target("vessel"), cancel=cancel) is None


def test_titles_and_keys():
    assert Method("ig", steps=32, baseline="blur").describe() == "IG(32, blur)"
    keys = {
        Method().key(),
        Method("gradxinput").key(),
        Method("ig", steps=8).key(),
        Method("ig", steps=8, baseline="mean").key(),
        Method("smoothgrad", seed=1).key(),
        Method("smoothgrad", seed=2).key(),
    }
    assert len(keys) == 6
    assert Method("gradient", steps=5).key() == Method("gradient").key()  # unused: ignored


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(name="lime"), "unknown method 'lime'"),
        (dict(name="ig", steps=0), "steps must be an integer from 1 to 1024"),
        (dict(name="ig", steps=5000), "steps must be an integer from 1 to 1024"),
        (dict(name="ig", steps=1, integration="riemann_trapezoid"), "from 2 to 1024"),
        (dict(name="ig", baseline="noise"), "unknown baseline 'noise'"),
        (dict(name="ig", integration="simpson"), "unknown integration 'simpson'"),
        (dict(name="smoothgrad", samples=-1), "samples must be an integer from 1 to 1024"),
        (dict(name="smoothgrad", sigma=-0.1), "sigma must be from 0 to 10"),
        (dict(name="smoothgrad", sigma=float("nan")), "sigma must be from 0 to 10"),
    ],
)
def test_bad_parameters_say_what_is_allowed(arguments, message):
    with pytest.raises(MethodError, match=message):
        Method(**arguments)
