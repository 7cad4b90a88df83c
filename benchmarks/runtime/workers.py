"""What the harness's DataLoader decoding workers share: how they start and how items pass.

Example:
    >>> as_is({"index": 3})
    {'index': 3}
"""

from __future__ import annotations

import torch

from zoo.host_memory import keep_freed_memory


def as_is(item):
    """The DataLoader's ``collate_fn``: one item per video (or keyframe), passed on unbatched."""
    return item


def decoding_worker_init(_) -> None:
    """A decoding worker's start: one torch thread (the model's threads live in the main
    process), and freed memory kept, so each video's views reuse the last one's pages."""
    torch.set_num_threads(1)
    keep_freed_memory()
