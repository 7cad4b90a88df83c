"""Video embeddings: the input of an entry's classifier, pooled over positions and test views.

A transfer-learning feature of a video is what the model's head sees: the input of its last
linear layer (:func:`zoo.checkpoints.head_layer`), averaged over the positions the head
scores (a ResNet head at a test crop larger than its pooling kernel scores several) and then
over the entry's test views. For a head without an activation, ``proj(embedding)`` is the
mean of the views' logits.

Example:
    >>> import torch, zoo
    >>> from zoo.features import head_inputs, video_embedding
    >>> model = zoo.create_model("i3d_tiny_8x4_demo").eval()
    >>> views = torch.zeros(3, 3, 8, 32, 32)  # three views of one video
    >>> head_inputs(model, views).shape, video_embedding(model, views).shape
    (torch.Size([3, 256]), torch.Size([256]))
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.checkpoints import head_layer


@torch.no_grad()
def head_inputs(model: nn.Module, views) -> torch.Tensor:
    """The classifier's input for each view, pooled over positions: float ``(V, D)``.

    ``views``: what the model takes, ``(V, C, T, H, W)`` or SlowFast's ``[slow, fast]``.
    """
    _, layer = head_layer(model)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
    try:
        model(views)
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError("the model's forward pass never reached its classifier")
    x = captured[-1]
    if isinstance(layer, nn.Linear):  # features last: (V, ..., D)
        return x.reshape(x.shape[0], -1, x.shape[-1]).mean(1).float()
    return x.reshape(x.shape[0], x.shape[1], -1).mean(-1).float()  # a 1x1x1 convolution: (V, D, ...)


def video_embedding(model: nn.Module, views) -> torch.Tensor:
    """A video's embedding: :func:`head_inputs` averaged over its views, float ``(D,)``."""
    return head_inputs(model, views).mean(0)
