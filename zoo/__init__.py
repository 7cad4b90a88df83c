"""videozoo: video-understanding model zoo: everything a user of one model needs.

The library, the bottom layer: the registry and its catalogue (``registry``, ``catalog/``,
``classes/``), our builders (``models/``, ``factory``), checkpoints (``checkpoints``), the
input path (``input/``: decoding, frame folders, AVA keyframes; ``transforms``: each entry's
test protocol as views), scoring (``scoring``, ``view_batches``), :func:`predict`, the fast
paths (``fast``, ``host_memory``) and deployment (``deploy/``: :func:`export` to ONNX Runtime
or ExecuTorch, and the exported file run back as a model). It imports torch, torchvision,
PyAV (only once a video is decoded), the runtimes (only once a file is exported or run) and
the third-party libraries it needs, never the harness (``benchmarks``), which is built on it:
``lint-imports`` checks this (contracts in ``pyproject.toml``).

Example:
    >>> import zoo
    >>> len(zoo.list_models(dataset="kinetics400"))  # 16 + 2 accelerator PyTorchVideo, 10 torchvision entries
    28
"""

from zoo import features  # noqa: F401  (zoo.features.video_embedding after a plain `import zoo`)
from zoo.checkpoints import load_checkpoint
from zoo.deploy.artifact import load_artifact
from zoo.deploy.export import export
from zoo.factory import create_model
from zoo.fast import optimize
from zoo.input.source import VideoReadError
from zoo.prediction import PredictError, Prediction, predict
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


__all__ = [
    "BuilderNotAvailableError",
    "PredictError",
    "Prediction",
    "UnknownModelError",
    "VideoReadError",
    "ZooEntry",
    "aliases",
    "all_entries",
    "catalog",
    "create_model",
    "export",
    "get_entry",
    "list_models",
    "load_artifact",
    "load_checkpoint",
    "optimize",
    "predict",
]
__version__ = "0.1.0"
