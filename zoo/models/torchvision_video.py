"""torchvision's video models (``torchvision.models.video``), built for the zoo's torchvision entries.

The module tree is torchvision's own: the builder calls the torchvision function whose weights
enum the entry names (``weights = "R3D_18_Weights.KINETICS400_V1"`` -> ``r3d_18``), without
weights (the zoo loads the checkpoint itself: cached, hash-checked, ``weights_only=True``),
with ``num_classes`` from the entry. torchvision's files are plain state dicts, which
:func:`zoo.load_checkpoint` takes as they are.

Every model maps ``(B, 3, T, H, W)`` to ``(B, classes)`` logits.

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("r3d_18")
    >>> model(torch.zeros(1, 3, 4, 32, 32)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

from functools import lru_cache

from torch import nn


@lru_cache(maxsize=None)
def builder_name(weights_spec: str) -> str:
    """torchvision's builder for a weights member, e.g. ``"Swin3D_B_Weights.KINETICS400_V1"`` -> ``"swin3d_b"``.

    Looked up in torchvision's own model registry (``get_model_weights``), not spelled here.
    """
    import torchvision.models.video as video
    from torchvision.models import get_model_weights, list_models

    enum_name = weights_spec.split(".", 1)[0]
    for name in list_models(module=video):
        if get_model_weights(name).__name__ == enum_name:
            return name
    raise ValueError(f"no torchvision video model takes {enum_name}")


def build(entry, num_classes: int | None = None, **overrides) -> nn.Module:
    """torchvision's model for ``entry`` (random init); ``overrides`` go to the torchvision function
    (e.g. ``dropout`` for R3D-style models; a different ``num_classes`` cannot take the published weights)."""
    from torchvision.models import get_model

    model = get_model(builder_name(entry.extra["weights"]), weights=None, num_classes=num_classes or entry.num_classes, **overrides)
    model.output_activation = "logits"  # plain attribute: benchmarks.evaluate applies the softmax
    return model
