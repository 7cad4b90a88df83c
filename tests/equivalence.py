"""Shared check: a reference model's checkpoint, in the published file format, loads through
our path and gives the same outputs."""

from __future__ import annotations

import torch
from torch import nn

import zoo
# one definition, shared with the speed benchmark (which times models under the same statistics)
from benchmarks.references import randomize_norm_stats  # noqa: F401


def write_published_checkpoint(model: nn.Module, path, prefix: str = "") -> None:
    """Write ``model``'s weights as the published files are: a pickle with ``model_state``."""
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save({"model_state": state, "epoch": 196}, path)


def params_m(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def run(model: nn.Module, inputs):
    with torch.no_grad():
        if isinstance(inputs, tuple):
            return model(*inputs)
        return model(inputs)


def assert_matches_reference(name: str, reference: nn.Module, inputs, tmp_path, *, tol: float = 1e-4, prefix: str = "", source: str = "path") -> float:
    """Build ``name`` from a checkpoint written from ``reference``; compare outputs. Returns max abs diff."""
    reference = randomize_norm_stats(reference).eval()
    path = tmp_path / f"{name}.pyth"
    write_published_checkpoint(reference, path, prefix=prefix)
    checkpoint = path.as_uri() if source == "file_url" else str(path)
    ours = zoo.create_model(name, checkpoint=checkpoint, progress=False)
    assert not ours.training
    expected, actual = run(reference, inputs), run(ours, inputs)
    if isinstance(expected, (list, tuple)):
        expected, actual = torch.cat([e.flatten() for e in expected]), torch.cat([a.flatten() for a in actual])
    assert actual.shape == expected.shape
    diff = (actual - expected).abs().max().item()
    assert diff <= tol, f"{name}: max abs difference {diff:g} > {tol}"
    return diff


def assert_logits_match(name: str, reference: nn.Module, inputs, tmp_path, *, tol: float = 1e-4) -> float:
    """As :func:`assert_matches_reference`, with both heads' output activation (softmax) removed.

    Softmax over 400 classes squeezes a randomly initialised network's outputs to about 1/400,
    where a wrong network (e.g. one squeeze-excitation missing) can stay within ``tol``;
    the logits expose it. Returns the max abs difference of the logits.
    """
    reference = randomize_norm_stats(reference).eval()
    path = tmp_path / f"{name}.logits.pyth"
    write_published_checkpoint(reference, path)
    ours = zoo.create_model(name, checkpoint=str(path), progress=False)
    for model in (reference, ours):
        model.blocks[-1].activation = None
    expected, actual = run(reference, inputs), run(ours, inputs)
    assert actual.shape == expected.shape
    diff = (actual - expected).abs().max().item()
    assert diff <= tol, f"{name}: max abs difference of logits {diff:g} > {tol}"
    return diff
