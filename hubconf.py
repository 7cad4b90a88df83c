"""torch.hub entry points for every videozoo entry, generated from the registry.

Every canonical name (``slowfast_r50_8x8_kinetics400``) and every PyTorchVideo hub alias
(``slowfast_r50``) is a function ``fn(pretrained=False, progress=True, **kwargs)``.

Example:
    >>> import torch
    >>> model = torch.hub.load(".", "x3d_xs", source="local", pretrained=False)
"""

dependencies = ["torch", "torchvision", "tqdm"]

import zoo as _zoo  # noqa: E402  (torch.hub reads `dependencies` first)


def _entry_point(name: str):
    entry = _zoo.get_entry(name)

    def load(pretrained: bool = False, progress: bool = True, **kwargs):
        return _zoo.create_model(name, pretrained=pretrained, progress=progress, **kwargs)

    load.__name__ = load.__qualname__ = name
    metric = ", ".join(f"{k} {v:g}" for k, v in entry.published.items())
    load.__doc__ = (
        f"{entry.arch} {entry.depth} {entry.frames_x_rate} on {entry.dataset} ({metric}; "
        f"{entry.params_m:g}M params).\n\n"
        "Args:\n    pretrained: load the published checkpoint\n    progress: show a download bar\n"
        "    kwargs: builder overrides, e.g. num_classes"
    )
    return load


for _name in _zoo.list_models() + sorted(_zoo.aliases()):
    globals()[_name] = _entry_point(_name)
del _name
