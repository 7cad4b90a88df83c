"""create_model: build an entry's model and, optionally, load its published weights."""

from __future__ import annotations

import os

from torch import nn

from zoo.checkpoints import load_checkpoint
from zoo.registry import get_entry


def create_model(
    name: str,
    pretrained: bool = False,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    fast: bool = False,
    **overrides,
) -> nn.Module:
    """Build the model of entry ``name`` (canonical name or alias).

    ``pretrained=True`` loads the published checkpoint (downloaded once into the torch hub
    cache); ``checkpoint`` loads another source instead (path, file://, https://, hf://).
    ``overrides`` go to the builder (e.g. ``num_classes=10`` for fine-tuning; a different head
    size cannot take the published weights). ``fast=True`` returns the inference fast paths
    of :func:`zoo.optimize` (applied after the weights are loaded; defaults for the CPU).

    Example:
        >>> import torch, zoo
        >>> model = zoo.create_model("x3d_xs").eval()
        >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
        torch.Size([1, 400])
    """
    entry = get_entry(name)
    build = entry.build_fn()
    model = build(entry, **overrides)
    model.zoo_entry = entry.name  # plain attribute: not part of the state dict
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, progress=progress)
    elif pretrained:
        load_checkpoint(model, entry.url, sha256=entry.sha256, progress=progress)
    model = model.eval()
    if fast:
        from zoo.fast import optimize

        return optimize(model)
    return model
