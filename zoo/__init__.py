"""videozoo: video-understanding model zoo (registry, builders, checkpoints).

Example:
    >>> import zoo
    >>> len(zoo.list_models(dataset="kinetics400"))  # 16 PyTorchVideo + 10 torchvision entries
    26
"""

from zoo.checkpoints import load_checkpoint
from zoo.factory import create_model
from zoo.fast import optimize
from zoo.registry import (
    BuilderNotAvailableError,
    UnknownModelError,
    ZooEntry,
    aliases,
    all_entries,
    catalog,
    get_entry,
    list_models,
)



def predict(model_or_name, video, *, top=5, views=None, device=None, **options):
    """Top-k named actions of one video (a file, a frame folder, or a uint8 ``(T, H, W, 3)`` tensor).

    ``model_or_name``: an entry name (published weights) or a model from :func:`create_model` /
    ``torch.hub.load``. Returns a :class:`benchmarks.predict.Prediction` (``.top``: ``[(name,
    score), ...]``, ``.scores``: every class); ``options``: see :func:`benchmarks.predict.predict`.

    Example:
        >>> import zoo
        >>> # zoo.predict("x3d_xs", "clip.mp4").top
    """
    # Imported here, not at the top: decoding (PyAV) and the prediction code live in the harness
    # (benchmarks.predict, which imports zoo), so `import zoo` stays light and free of a cycle.
    from benchmarks.predict import predict as _predict

    return _predict(model_or_name, video, top=top, views=views, device=device, **options)


__all__ = [
    "BuilderNotAvailableError",
    "UnknownModelError",
    "ZooEntry",
    "aliases",
    "all_entries",
    "catalog",
    "create_model",
    "get_entry",
    "list_models",
    "load_checkpoint",
    "optimize",
    "predict",
]
__version__ = "0.1.0"
