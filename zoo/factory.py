"""create_model: build an entry's model and, optionally, load its published weights."""

from __future__ import annotations

import os

from torch import nn

from zoo.checkpoints import (
    fetch,
    head_classes,
    head_layer,
    load_backbone,
    load_checkpoint,
    load_state_dict_strict,
    local_file,
    read_state_dict,
)
from zoo.classes import classes_beside
from zoo.provenance import RANDOM_WEIGHTS, record_weights
from zoo.registry import get_entry

__all__ = ["RANDOM_WEIGHTS", "check_overrides", "create_model"]


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
    ``overrides`` go to the builder. ``num_classes=K`` sizes the head for other classes: with
    ``pretrained=True``, or a ``checkpoint`` whose head has the entry's classes (a local copy of
    the published file), every weight but the head's is loaded (the new head keeps its fresh
    initialisation), the start of a fine-tuning. A ``checkpoint`` whose head has other rows
    than the entry's classes (a fine-tuned one) builds the model with that many classes when
    ``num_classes`` is not given. ``fast=True`` returns the inference fast paths of
    :func:`zoo.optimize` (applied after the weights are loaded; defaults for the CPU).

    The model comes in eval mode (call ``.train()`` to train it). It records where its weights
    came from and what is still untrained (:mod:`zoo.provenance`), which :func:`zoo.predict`
    warns about and :func:`zoo.export` writes in the manifest; a checkpoint with
    ``zoo finetune``'s ``classes.txt`` beside it gives ``model.zoo_classes``, the names
    :func:`zoo.predict` and :func:`zoo.export` use.

    Example:
        >>> import torch, zoo
        >>> model = zoo.create_model("x3d_xs").eval()
        >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
        torch.Size([1, 400])
    """
    entry = get_entry(name)
    if pretrained and checkpoint is not None:
        raise ValueError(f"{entry.name}: pass pretrained=True (the published file) or checkpoint= (another source), "
                         "not both; a local copy of the published file is checkpoint=PATH")
    build = entry.build_fn()
    check_overrides(entry, build, overrides)
    model = build(entry, **overrides)
    model.zoo_entry = entry.name  # plain attribute: not part of the state dict
    new_head = False
    if checkpoint is not None:
        source = os.fspath(checkpoint)
        state = read_state_dict(fetch(checkpoint, progress=progress))
        rows = head_classes(model, state)
        if "num_classes" not in overrides:
            if rows is not None and rows != entry.num_classes:  # a fine-tuned checkpoint: its head's size
                model = build(entry, **overrides, num_classes=rows)
                model.zoo_entry = entry.name
            load_state_dict_strict(model, state, source=source)
        elif rows is not None and rows != overrides["num_classes"] and rows == entry.num_classes:
            # a head for other classes than a file of the entry's own (a local copy of the published
            # file): the start of a fine-tuning, as with pretrained=True. A fine-tuned file's head is
            # not thrown away: another size than its own is refused below (wrong shapes).
            load_backbone(model, state, source=source)
            new_head = True
        else:
            load_state_dict_strict(model, state, source=source)
    elif pretrained:
        source = "published"
        new_head = overrides.get("num_classes") not in (None, entry.num_classes)
        load_checkpoint(model, entry.url, sha256=entry.sha256, progress=progress, head=not new_head)
    else:
        source = RANDOM_WEIGHTS
    if new_head:
        source = f"{source} (every weight but the head's: a new {overrides['num_classes']}-class head)"
    # as zoo.predict reads it: a random network's (or a new head's) scores mean nothing
    untrained = "" if source == RANDOM_WEIGHTS else head_layer(model)[0] if new_head else None
    record_weights(model, source, untrained=untrained)
    # a fine-tuned checkpoint's class names, from zoo finetune's classes.txt beside it
    model.zoo_classes = classes_beside(local_file(checkpoint), rows) if checkpoint is not None and not new_head else None
    model = model.eval()
    if fast:
        from zoo.fast import optimize

        return optimize(model)
    return model


def check_overrides(entry, build, overrides: dict) -> None:
    """Refuse keyword arguments ``entry``'s builder does not take, naming the entry and what it
    takes (``torch.hub.load(..., pretraned=True)`` named the builder function's ``TypeError``).

    Example:
        >>> import zoo
        >>> zoo.create_model("x3d_xs", pretraned=True)
        Traceback (most recent call last):
        ...
        TypeError: x3d_xs_4x12_kinetics400 takes no keyword argument 'pretraned' (did you mean pretrained?); it takes pretrained, checkpoint, progress, fast, and its builder's ...
    """
    import difflib
    import inspect

    parameters = inspect.signature(build).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    known = [n for n, p in list(parameters.items())[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in overrides if k not in known]
    if unknown:
        ours = ["pretrained", "checkpoint", "progress", "fast"]
        close = difflib.get_close_matches(unknown[0], ours + known, n=1)
        raise TypeError(f"{entry.name} takes no keyword argument {unknown[0]!r}"
                        + (f" (did you mean {close[0]}?)" if close else "")
                        + f"; it takes {', '.join(ours)}, and its builder's {', '.join(known) or 'none'}")
