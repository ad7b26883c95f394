"""Which PyTorch state-dict key becomes which Flax variable, and the check that all do.

KEY_TABLE is the whole mapping, spelled out: torch key -> (Flax variable path, layout
rule). The encoder blocks and decoders repeat, so their rows are written once with `{n}` /
`{k}` and expanded for each depth; nothing else is generated. The expected torch shapes come
from the reference CustomResNet itself, built on torch's meta device (no memory, no init),
so the check can never drift from the model users trained.
"""

import numpy as np

from cnninterp.convert.errors import ConversionError
from cnninterp.convert.layout import channel_vector, conv_kernel, conv_transpose_kernel
from cnninterp.jaxcore.model.network import DEPTH, ModelConfig

STEM = {
    "conv1.weight": ("params/conv1/kernel", conv_kernel),
    "bn1.weight": ("params/bn1/scale", channel_vector),
    "bn1.bias": ("params/bn1/bias", channel_vector),
    "bn1.running_mean": ("batch_stats/bn1/mean", channel_vector),
    "bn1.running_var": ("batch_stats/bn1/var", channel_vector),
}
BLOCK = {  # resblock{n}, n = 1..DEPTH
    "resblock{n}.conv1.weight": ("params/resblock{n}/conv1/kernel", conv_kernel),
    "resblock{n}.bn1.weight": ("params/resblock{n}/bn1/scale", channel_vector),
    "resblock{n}.bn1.bias": ("params/resblock{n}/bn1/bias", channel_vector),
    "resblock{n}.bn1.running_mean": ("batch_stats/resblock{n}/bn1/mean", channel_vector),
    "resblock{n}.bn1.running_var": ("batch_stats/resblock{n}/bn1/var", channel_vector),
    "resblock{n}.conv2.weight": ("params/resblock{n}/conv2/kernel", conv_kernel),
    "resblock{n}.bn2.weight": ("params/resblock{n}/bn2/scale", channel_vector),
    "resblock{n}.bn2.bias": ("params/resblock{n}/bn2/bias", channel_vector),
    "resblock{n}.bn2.running_mean": ("batch_stats/resblock{n}/bn2/mean", channel_vector),
    "resblock{n}.bn2.running_var": ("batch_stats/resblock{n}/bn2/var", channel_vector),
    "resblock{n}.skip.0.weight": ("params/resblock{n}/skip_conv/kernel", conv_kernel),
    "resblock{n}.skip.1.weight": ("params/resblock{n}/skip_bn/scale", channel_vector),
    "resblock{n}.skip.1.bias": ("params/resblock{n}/skip_bn/bias", channel_vector),
    "resblock{n}.skip.1.running_mean": ("batch_stats/resblock{n}/skip_bn/mean", channel_vector),
    "resblock{n}.skip.1.running_var": ("batch_stats/resblock{n}/skip_bn/var", channel_vector),
}
DECODER = {  # upconv{k}, k = 1..DEPTH
    "upconv{k}.weight": ("params/upconv{k}/kernel", conv_transpose_kernel),
    "upconv{k}.bias": ("params/upconv{k}/bias", channel_vector),
}
HEAD = {
    "final.weight": ("params/final/kernel", conv_kernel),
    "final.bias": ("params/final/bias", channel_vector),
}
KEY_TABLE = {
    **STEM,
    **{
        key.format(n=n): (path.format(n=n), rule)
        for n in range(1, DEPTH + 1)
        for key, (path, rule) in BLOCK.items()
    },
    **{
        key.format(k=k): (path.format(k=k), rule)
        for k in range(1, DEPTH + 1)
        for key, (path, rule) in DECODER.items()
    },
    **HEAD,
}
# Training-only buffers: accepted when present, never required, not converted.
DROPPED_SUFFIXES = (".num_batches_tracked",)
LISTED = 12  # keys shown per category in an error message


def is_dropped(key: str) -> bool:
    return key.endswith(DROPPED_SUFFIXES)


def infer_config(state: dict[str, np.ndarray], source: str) -> ModelConfig:
    """Base width from conv1.weight [w, 1, 3, 3], classes from final.weight [classes, w, 3, 3]."""
    stem = state.get("conv1.weight")
    if stem is None or stem.ndim != 4:
        keys = ", ".join(list(state)[:LISTED]) or "none"
        raise ConversionError(
            f"{source} is not a CustomResNet state dict: it has no conv1.weight of shape "
            f"[width, 1, 3, 3] to read the base width from. It holds {len(state)} tensors: "
            f"{keys}{' ...' if len(state) > LISTED else ''}"
        )
    head = state.get("final.weight", state.get("final.bias"))
    classes = int(head.shape[0]) if head is not None and head.ndim >= 1 else 2
    return ModelConfig(width=int(stem.shape[0]), classes=classes)


def expected_torch_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every key of the reference CustomResNet's state dict with its shape."""
    import torch

    from cnninterp.convert.torch_model import CustomResNet

    with torch.device("meta"):
        model = CustomResNet(config.classes, config.width)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_state(state: dict[str, np.ndarray], config: ModelConfig, source: str) -> None:
    """Raise one ConversionError listing every missing, unexpected and mis-shaped key."""
    expected = expected_torch_shapes(config)
    missing = [k for k in expected if k not in state and not is_dropped(k)]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} is {_shape(state[k].shape)}, expected {_shape(expected[k])}"
        for k in state
        if k in expected and tuple(state[k].shape) != expected[k]
    ]
    misshaped += [
        f"{k} holds {state[k].dtype} values, expected floats"
        for k in state
        if k in KEY_TABLE and not np.issubdtype(state[k].dtype, np.floating)
    ]
    if not (missing or unexpected or misshaped):
        return
    found = sum(k in state for k in expected)
    lines = [
        f"{source} does not match the CustomResNet architecture (width {config.width} and "
        f"{config.classes} classes, read from conv1.weight and final.weight). "
        f"{found} of its {len(state)} tensors match the {len(expected)} expected keys."
    ]
    if found < len(expected) // 2:
        lines.append("It looks like a checkpoint of a different architecture.")
    for title, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("mis-shaped", misshaped),
    ):
        if items:
            shown = (
                "; ".join(items[:LISTED]) if title == "mis-shaped" else ", ".join(items[:LISTED])
            )
            more = f" ... and {len(items) - LISTED} more" if len(items) > LISTED else ""
            lines.append(f"  {title} ({len(items)}): {shown}{more}")
    raise ConversionError("\n".join(lines))


def _shape(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"
