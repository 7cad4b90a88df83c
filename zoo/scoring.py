"""From a model's outputs to a video's scores: what the outputs are, per-view scores, aggregation.

The evaluation (``benchmarks``), :func:`zoo.predict` and exported models all score a video
this one way, as PySlowFast's test loop does: single-label sets average the softmax scores of
the views (a model whose head already applies softmax, like X3D's, is not softmaxed twice);
multi-label sets (Charades) take sigmoid scores and their maximum over views. AVA detectors
score each person box with a sigmoid (:func:`keyframe_scores`).

Example:
    >>> import torch
    >>> from zoo.scoring import aggregate, view_scores
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    >>> aggregate(view_scores(logits, "logits", multilabel=False), multilabel=False).round(decimals=4)
    tensor([0.6269, 0.3731])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from zoo.view_batches import ViewBatcher


def output_activation(model: nn.Module) -> str:
    """What the model's outputs already are: ``"logits"``, ``"softmax"`` or ``"sigmoid"``.

    ``model.output_activation`` says it explicitly; otherwise the classification head (the
    last module with a linear ``proj``) is inspected for a Softmax/Sigmoid ``activation``.
    """
    explicit = getattr(model, "output_activation", None)
    if explicit is not None:
        return explicit
    activation = getattr(_classification_head(model), "activation", None)
    if isinstance(activation, nn.Softmax):
        return "softmax"
    if isinstance(activation, nn.Sigmoid):
        return "sigmoid"
    return "logits"


def _classification_head(model: nn.Module) -> nn.Module | None:
    """The last module with a linear ``proj``: the head whose ``activation`` ends the model."""
    head = None
    for module in model.modules():
        if isinstance(getattr(module, "proj", None), nn.Linear):
            head = module
    return head


@contextlib.contextmanager
def head_logits(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` returns logits while the block runs: its head's softmax or sigmoid is set aside.

    X3D's and R(2+1)D's heads apply softmax at every position, in training as in evaluation,
    as PyTorchVideo's hub models do, so their outputs are probabilities. PySlowFast, which
    trained them, applies the head's activation at test time only (``if not self.training``) and
    trains on the logits averaged over positions, which is what the head gives without its
    activation. A cross-entropy of the probabilities instead treats them as logits: its
    gradients are damped and its loss can never fall below ``log(e + K - 1) - 1`` for ``K``
    classes. Training loops (``zoo finetune``) run their steps in this block; the activation
    is back when it ends, even on an error. A model whose outputs are logits is left alone.

    Example:
        >>> import torch, zoo
        >>> model = zoo.create_model("x3d_xs", num_classes=3).eval()
        >>> clip = torch.zeros(1, 3, 4, 32, 32)
        >>> with head_logits(model):
        ...     logits = model(clip)
        >>> bool(torch.allclose(logits.softmax(-1), model(clip), atol=1e-6)), output_activation(model)
        (True, 'softmax')
    """
    explicit = getattr(model, "output_activation", None)
    head = _classification_head(model)
    activation = getattr(head, "activation", None)
    if explicit not in (None, "logits") or (explicit is None and activation is not None
                                             and not isinstance(activation, (nn.Softmax, nn.Sigmoid))):
        raise ValueError(f"{type(model).__name__}'s outputs are {explicit or type(activation).__name__}, "
                         "and the activation is not a head's to set aside")
    if explicit is not None or activation is None:
        yield model
        return
    head.activation = None
    try:
        yield model
    finally:
        head.activation = activation


def scores_multilabel(model: nn.Module, entry) -> bool:
    """Does ``model`` score as a multi-label set (sigmoid, max over views)? A multi-label entry's
    model does unless its head ends in softmax, as one resized to other classes does by default
    (``zoo finetune`` trains it with cross-entropy); a head of raw logits does at the entry's
    own class count.

    Example:
        >>> import zoo
        >>> entry = zoo.get_entry("slow_r50_8x8_charades")
        >>> scores_multilabel(zoo.create_model(entry.name), entry), scores_multilabel(zoo.create_model(entry.name, num_classes=5), entry)
        (True, False)
    """
    if not entry.multilabel:
        return False
    activation = output_activation(model)
    if activation != "logits":
        return activation == "sigmoid"
    head = _classification_head(model)
    return head is None or head.proj.out_features == entry.num_classes


def view_scores(outputs: torch.Tensor, activation: str, multilabel: bool) -> torch.Tensor:
    """Per-view class scores: sigmoid (multi-label) or softmax of logits; activated outputs as is."""
    if activation != "logits":
        return outputs
    return torch.sigmoid(outputs) if multilabel else torch.softmax(outputs, dim=-1)


def aggregate(scores: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """``(views, classes)`` -> ``(classes,)``: max over views for multi-label, else the mean."""
    return scores.max(dim=0).values if multilabel else scores.mean(dim=0)


def to_device(views, device):
    """Views (a tensor, or SlowFast's ``[slow, fast]``) moved to ``device``."""
    return [v.to(device) for v in views] if isinstance(views, (list, tuple)) else views.to(device)


def view_scorer(model, *, activation: str, multilabel: bool, device="cpu") -> Callable:
    """A batch of views (from one or several videos) -> their per-view scores, on the CPU."""

    @torch.inference_mode()
    def run(views) -> torch.Tensor:
        return view_scores(model(to_device(views, device)).float(), activation, multilabel).cpu()

    return run


def score_video(model, views, *, batch_size: int | None, activation: str, multilabel: bool, device="cpu") -> torch.Tensor:
    """One video's aggregated scores from all its views, ``batch_size`` views per forward pass."""
    batcher = ViewBatcher(view_scorer(model, activation=activation, multilabel=multilabel, device=device), batch_size)
    (_, scores), = batcher.add(0, views) + batcher.flush()
    return aggregate(scores, multilabel)


def keyframe_scores(model, batch: list[dict], protocol, activation: str, device) -> list[torch.Tensor]:
    """An AVA detector's scores ``(K_i, classes)`` for each keyframe of ``batch`` in one pass.

    ``batch``: ``{"clip": uint8 (T, 3, h, w), "boxes": (K_i, 4)}`` per keyframe, frames of one
    size, as :mod:`zoo.input.keyframes` reads them; ``protocol``: its
    :class:`~zoo.input.keyframes.AvaProtocol` (normalisation, SlowFast's pathways).
    """
    from zoo.input.keyframes import model_input  # PyAV comes with the keyframe reader: only for AVA

    clips = [model_input(item["clip"], protocol) for item in batch]
    if protocol.alpha:
        clip = [torch.cat([c[p] for c in clips]).to(device) for p in range(2)]
    else:
        clip = torch.cat(clips).to(device)
    rows = [torch.cat([torch.full((len(item["boxes"]), 1), float(b)), item["boxes"]], dim=1) for b, item in enumerate(batch)]
    scores = model(clip, torch.cat(rows).to(device)).float().cpu()
    if activation == "logits":
        scores = torch.sigmoid(scores)
    return list(scores.split([len(item["boxes"]) for item in batch]))
