"""zoo.view_batches: forward passes of a fixed number of views, filled across videos."""

import pytest
import torch

from zoo.view_batches import ViewBatcher


def _videos(counts):
    """Video i's view j holds the number 100 * i + j, so every output row names its view."""
    return [torch.tensor([[100.0 * i + j] for j in range(n)]) for i, n in enumerate(counts)]


def _run_all(batcher, videos):
    done = [out for i, v in enumerate(videos) for out in batcher.add(i, v)] + batcher.flush()
    return done


@pytest.mark.parametrize("batch", [1, 4, 7, 30, 64])
def test_every_pass_is_full_but_the_last_and_each_video_gets_its_own_rows(batch):
    counts = [30, 5, 30, 1, 12]
    passes = []
    batcher = ViewBatcher(lambda x: passes.append(x.shape[0]) or x * 2, batch)
    done = _run_all(batcher, _videos(counts))
    assert [tag for tag, _ in done] == list(range(len(counts)))
    for (i, out), n in zip(done, counts, strict=True):
        assert out[:, 0].tolist() == [2 * (100.0 * i + j) for j in range(n)]
    total = sum(counts)
    assert passes == [batch] * (total // batch) + ([total % batch] if total % batch else [])


def test_videos_come_back_as_soon_as_their_last_view_has_run():
    batcher = ViewBatcher(lambda x: x, 8)
    assert batcher.add("a", torch.zeros(5, 1)) == []
    assert [t for t, _ in batcher.add("b", torch.zeros(5, 1))] == ["a"]  # pass 1: a's 5 + b's first 3
    assert [t for t, _ in batcher.add("c", torch.zeros(3, 1))] == []  # b's last 2 + c's 3: only 5 waiting
    assert [t for t, _ in batcher.add("d", torch.zeros(3, 1))] == ["b", "c", "d"]  # exactly one full pass
    assert [t for t, _ in batcher.add("e", torch.zeros(2, 1))] == []
    assert [t for t, _ in batcher.flush()] == ["e"]
    assert batcher.flush() == []


def test_slowfast_pathways_are_cut_and_joined_together():
    def video(i, n):  # slow: 2 frames, fast: 8 frames, every value the view's number
        return [torch.full((n, 3, 2, 1, 1), 10.0 * i) + torch.arange(n).view(n, 1, 1, 1, 1),
                torch.full((n, 3, 8, 1, 1), 10.0 * i) + torch.arange(n).view(n, 1, 1, 1, 1)]

    def run(x):
        slow, fast = x
        assert slow.shape[0] == fast.shape[0] and slow.shape[2] == 2 and fast.shape[2] == 8
        assert torch.equal(slow[:, 0, 0, 0, 0], fast[:, 0, 0, 0, 0])  # the same views on both pathways
        return slow[:, 0, 0, 0]

    batcher = ViewBatcher(run, 4)
    done = [o for i, n in enumerate([3, 3, 3]) for o in batcher.add(i, video(i, n))] + batcher.flush()
    assert [out[:, 0].tolist() for _, out in done] == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]


def test_without_a_batch_each_video_is_one_pass():
    passes = []
    batcher = ViewBatcher(lambda x: passes.append(x.shape[0]) or x, None)
    done = _run_all(batcher, _videos([3, 30, 2]))
    assert passes == [3, 30, 2] and [t for t, _ in done] == [0, 1, 2]


def test_bad_batches_and_empty_videos_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        ViewBatcher(lambda x: x, 0)
    with pytest.raises(ValueError, match="no views"):
        ViewBatcher(lambda x: x, 4).add("v.mp4", torch.zeros(0, 1))
