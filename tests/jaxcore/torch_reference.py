"""The same random CustomResNet in PyTorch and JAX, and PyTorch autograd as the reference."""

import numpy as np
import torch

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.passes.explainer import Explainer


class Pair:
    """The same random model as torch module, Flax variables and Explainer."""

    def __init__(self, width: int, seed: int = 0):
        self.torch_model = random_model(width, seed=seed).requires_grad_(False)
        state = {k: v.numpy() for k, v in self.torch_model.state_dict().items()}
        self.config = infer_config(state, "test")
        self.variables = flax_variables(state, self.config)
        self.explainer = Explainer(self.config, self.variables)

    def torch_row(self, image: np.ndarray, y: int, x: int) -> np.ndarray:
        pixels = torch.tensor(image).requires_grad_(True)
        p = torch.softmax(self.torch_model(pixels[None, None]), dim=1)[0, 1]
        p[y, x].backward()
        return pixels.grad.numpy()

    def torch_jacobian(self, image: np.ndarray) -> np.ndarray:
        """[H*W, H*W] by torch.autograd.functional.jacobian, as the original app did."""

        def probability(pixels):
            return torch.softmax(self.torch_model(pixels[None, None]), dim=1)[0, 1]

        jac = torch.autograd.functional.jacobian(probability, torch.tensor(image))
        return jac.numpy().reshape(image.size, image.size)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))
