"""The final code on a GPU in one short run: device summary, one 256x256 row on its crop
against PyTorch float32, and the 64x64 and 256x256 passes (warm), for RESULTS.md.

    python benchmarks/gpu_smoke.py
"""

import time

import numpy as np
import torch

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.passes.explainer import Explainer

torch.backends.cudnn.allow_tf32 = False  # PyTorch in true float32
torch.backends.cuda.matmul.allow_tf32 = False
model = random_model(64, seed=0).requires_grad_(False).eval()
state = {k: v.numpy() for k, v in model.state_dict().items()}
config = infer_config(state, "gpu_smoke")
explainer = Explainer(config, flax_variables(state, config))
print("devices:", explainer.device_summary(), flush=True)
rng = np.random.default_rng(0)
for size in (64, 256):
    image = rng.random((size, size), dtype=np.float32)
    explainer.warm_up(size, size)
    y, x = size // 2 + 3, size // 3
    row = explainer.gradient_row(image, y, x)
    pixels = torch.tensor(image, device="cuda" if torch.cuda.is_available() else "cpu")
    pixels.requires_grad_(True)
    torch_model = model.to(pixels.device)
    p = torch.softmax(torch_model(pixels[None, None]), dim=1)[0, 1, y, x]
    (want,) = torch.autograd.grad(p, pixels)
    want = want.cpu().numpy()
    error = np.abs(row - want).max() / np.abs(want).max()
    print(f"[{size}x{size}] row max relative error vs torch: {error:.2e}", flush=True)
    explainer.jacobian_stats(image)  # warm
    started = time.perf_counter()
    stats = explainer.jacobian_stats(image)
    seconds = time.perf_counter() - started
    print(f"[{size}x{size}] full pass {seconds:.3f} s, complete {stats.complete}", flush=True)
