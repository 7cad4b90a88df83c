"""Forward passes of a fixed number of views, filled across videos.

A multi-view evaluation has, per video, a batch of views (30 for 10x3). On a GPU a small
model at 30 views leaves the device half idle, and a view count that does not divide the
batch leaves a ragged last pass per video. :class:`ViewBatcher` takes the videos' view
batches one after another, runs the model on exactly ``batch`` views at a time, whichever
videos they come from, and hands each video's outputs back, in order, once all its views
have been through. :func:`forward_views` does the same for a list known in advance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence

import torch
from torch import nn


def _count(views) -> int:
    return (views[0] if isinstance(views, list | tuple) else views).shape[0]


def _take(views, start: int, stop: int):
    if isinstance(views, list | tuple):
        return [v[start:stop] for v in views]
    return views[start:stop]


def _join(parts: list):
    if isinstance(parts[0], list | tuple):  # [slow, fast] per part: join each pathway
        return [torch.cat([p[k] for p in parts]) if len(parts) > 1 else parts[0][k] for k in range(len(parts[0]))]
    return torch.cat(parts) if len(parts) > 1 else parts[0]


class ViewBatcher:
    """Runs ``run`` on ``batch`` views at a time across consecutive videos.

    ``add(tag, views)`` queues one video's views (a ``(V, ...)`` tensor, or a list of them per
    pathway) and returns ``[(tag, outputs), ...]`` for the videos whose every view has now
    been through ``run``, in the order they were added (``outputs``: ``run``'s rows for that
    video, concatenated). ``flush()`` runs what is left (a last, shorter pass). With
    ``batch=None`` every video is one pass of its own views.

    Example:
        >>> import torch
        >>> calls = []
        >>> batcher = ViewBatcher(lambda x: calls.append(x.shape[0]) or x.sum(dim=1), batch=4)
        >>> batcher.add("a", torch.ones(3, 2))  # 3 views queued: not yet a full pass
        []
        >>> [(tag, out.tolist()) for tag, out in batcher.add("b", torch.zeros(3, 2))]
        [('a', [2.0, 2.0, 2.0])]
        >>> [(tag, out.tolist()) for tag, out in batcher.flush()], calls
        ([('b', [0.0, 0.0, 0.0])], [4, 2])
    """

    def __init__(self, run: Callable, batch: int | None):
        if batch is not None and batch < 1:
            raise ValueError(f"views per forward pass must be at least 1, not {batch}")
        self.run, self.batch = run, batch
        # per queued video: [tag, views, view count, views already run, outputs so far]
        self._queue: deque[list] = deque()
        self._waiting = 0  # views queued and not yet run

    def add(self, tag: Hashable, views) -> list[tuple[Hashable, torch.Tensor]]:
        n = _count(views)
        if n == 0:
            raise ValueError(f"{tag}: no views to run")
        if self.batch is None:
            return [(tag, self.run(views))]
        self._queue.append([tag, views, n, 0, []])
        self._waiting += n
        while self._waiting >= self.batch:
            self._pass(self.batch)
        return self._finished()

    def flush(self) -> list[tuple[Hashable, torch.Tensor]]:
        while self._waiting:
            self._pass(min(self.batch, self._waiting))
        return self._finished()

    def _pass(self, size: int) -> None:
        parts, owners, filled = [], [], 0
        for video in self._queue:  # oldest first: videos finish in the order they came
            if filled == size:
                break
            _, views, n, done, _ = video
            k = min(n - done, size - filled)
            if k:
                parts.append(_take(views, done, done + k))
                owners.append((video, k))
                video[3] += k
                filled += k
        out = self.run(_join(parts))
        start = 0
        for video, k in owners:
            video[4].append(out[start : start + k])
            start += k
        self._waiting -= size

    def _finished(self) -> list[tuple[Hashable, torch.Tensor]]:
        done = []
        while self._queue and self._queue[0][3] == self._queue[0][2]:
            tag, _, _, _, outs = self._queue.popleft()
            done.append((tag, torch.cat(outs) if len(outs) > 1 else outs[0]))
        return done


def forward_views(model: nn.Module, views: Sequence, batch: int):
    """Run ``views`` (a list of per-video view batches, tensors or ``[slow, fast]``) through
    ``model`` ``batch`` views at a time, across videos; returns one output per video.

    On a GPU, filling each forward pass with views of several videos keeps it busy.

    Example:
        >>> import torch
        >>> net = torch.nn.Flatten()
        >>> [o.shape for o in forward_views(net, [torch.zeros(3, 2, 1), torch.zeros(2, 2, 1)], batch=4)]
        [torch.Size([3, 2]), torch.Size([2, 2])]
    """
    batcher = ViewBatcher(model, batch)
    with torch.no_grad():
        done = [out for i, v in enumerate(views) for out in batcher.add(i, v)] + batcher.flush()
    return [out for _, out in done]
