"""Where a model's weights came from, and which of them are still as initialised.

:func:`zoo.create_model` records on the model it returns (plain attributes, not in the state
dict) the source of its weights, ``model.zoo_weights`` (``"published"``, the checkpoint source,
or :data:`RANDOM_WEIGHTS`), and what it left untrained: the whole network (no weights given)
or the classifier of a head sized to other classes (``num_classes=K``). :func:`zoo.predict`
warns when it scores with untrained weights, :func:`zoo.export` records them in the manifest,
and :func:`zoo.optimize` carries them over.

"Still untrained" is checked, not assumed: the record keeps a fingerprint of the untrained
parameters, so a model trained after :func:`zoo.create_model` (a loop of one's own) is no
longer reported as random.

Example:
    >>> import torch
    >>> from zoo.provenance import record_weights, untrained_part
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    >>> record_weights(model, "published", untrained="1")
    >>> untrained_part(model)
    '1'
    >>> with torch.no_grad():
    ...     _ = model[1].weight.add_(0.1)  # a training step
    >>> untrained_part(model) is None
    True
"""

from __future__ import annotations

import torch
from torch import nn

#: What ``model.zoo_weights`` says of a model built without weights (``zoo.create_model``'s
#: default), as every record of weights in the zoo and the harness says it.
RANDOM_WEIGHTS = "random init"


#: The integer type of each float type's bits, for :func:`_fingerprint`.
_BITS = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def _fingerprint(module: nn.Module) -> int | None:
    """A checksum of the parameters' bits: integer sums are exact, so the same weights give the
    same number on any device and thread count (a float sum depends on the reduction order),
    and a training step changes it."""
    params = list(module.parameters())
    if any(p.is_meta for p in params):  # built on the meta device: no values to sum
        return None
    total = 0
    with torch.no_grad():
        for index, p in enumerate(params, 1):
            bits = p.detach().reshape(-1).view(_BITS[p.element_size()])
            # weighted by the parameter's place: two tensors swapping values still differ
            total += index * int(bits.sum(dtype=torch.int64).item())
    return total


def record_weights(model: nn.Module, source: str | None, *, untrained: str | None = None, what: str | None = None,
                   fingerprint: bool = True) -> None:
    """Record on ``model`` where its weights came from (``source``) and which submodule is still
    as initialised: ``untrained`` is a submodule name (``""``: the model itself) or None;
    ``what`` says what it is, ``"network"`` (the default for ``""``) or ``"head"``.
    ``fingerprint=False``: the weights cannot change (an exported file)."""
    model.zoo_weights = source
    # the whole model's, for current_weights: trained after it was recorded, it is no longer "published"
    model.zoo_weights_fingerprint = _fingerprint(model) if fingerprint else None
    if untrained is None:
        model.zoo_untrained = None
        return
    what = what or ("network" if untrained == "" else "head")
    module = model.get_submodule(untrained) if fingerprint else None
    # no fingerprint (an exported file, a model on the meta device): untrained until rebuilt; the
    # whole model's is the one just taken
    part = model.zoo_weights_fingerprint if untrained == "" else _fingerprint(module) if module is not None else None
    model.zoo_untrained = (what, untrained, part)


def current_weights(model: nn.Module) -> str | None:
    """Where ``model``'s weights came from, as recorded, while they are still those weights; once
    changed (trained further), ``"given model (changed since: <source>)"``; None without a record.

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(2, 2)
        >>> record_weights(model, "published")
        >>> current_weights(model)
        'published'
        >>> with torch.no_grad():
        ...     _ = model.weight.mul_(2)
        >>> current_weights(model)
        'given model (changed since: published)'
    """
    source = getattr(model, "zoo_weights", None)
    recorded = getattr(model, "zoo_weights_fingerprint", None)
    if source is None or recorded is None:
        return source
    return source if _fingerprint(model) == recorded else f"given model (changed since: {source})"


def untrained(model: nn.Module) -> tuple[str, str] | None:
    """``(what, submodule)`` still as :func:`zoo.create_model` initialised it: ``("network", "")``
    for a random network, ``("head", "blocks.6.proj")`` for a new head; None when the record
    says the weights are trained (or since changed), or there is no record."""
    record = getattr(model, "zoo_untrained", None)
    if record is None:
        return None
    what, name, fingerprint = record
    if fingerprint is None:
        return what, name
    try:
        module = model.get_submodule(name)
    except AttributeError:
        return None
    return (what, name) if _fingerprint(module) == fingerprint else None


def untrained_part(model: nn.Module) -> str | None:
    """The name of the untrained submodule (:func:`untrained`; ``""`` the whole model), or None."""
    found = untrained(model)
    return None if found is None else found[1]
