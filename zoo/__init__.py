"""videozoo: video-understanding model zoo (registry, builders, checkpoints).

Example:
    >>> import zoo
    >>> len(zoo.list_models(dataset="kinetics400"))
    16
"""

from zoo.checkpoints import load_checkpoint
from zoo.factory import create_model
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
    "UnknownModelError",
    "ZooEntry",
    "aliases",
    "all_entries",
    "catalog",
    "create_model",
    "get_entry",
    "list_models",
    "load_checkpoint",
]
__version__ = "0.1.0"
