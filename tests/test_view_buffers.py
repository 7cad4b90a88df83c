"""benchmarks.runtime.view_buffers: a worker's views go out in shared memory it reuses, never while held."""

import dataclasses
import gc

import pytest
import torch

import zoo
from benchmarks.datasets import read_path_label_list
from benchmarks.evaluate import VideoViews, evaluate
from benchmarks.runtime.workers import as_is
from benchmarks.runtime.view_buffers import ViewBuffers, release_when_freed
from tests.videos import colour_model, write_colour_dataset, write_index_video
from zoo.transforms import InputSpec

SHAPE = (4, 3, 2, 5, 5)


class Filled(torch.utils.data.Dataset):
    """Item i: views full of i, built into the worker's pool (as VideoViews builds them)."""

    def __init__(self, count: int, limit: int):
        self.count, self.limit, self.buffers = count, limit, None

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        if self.buffers is None:  # one pool per worker process
            self.buffers = ViewBuffers(limit=self.limit)
        with self.buffers.building():
            views = self.buffers.empty(SHAPE).fill_(i)
            lease = self.buffers.claim(views)
        return {"index": i, "views": views, "lease": lease, "buffers": self.buffers.count}


def _loader(dataset, workers=1):
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=as_is,
                                       prefetch_factor=2)


def test_a_worker_builds_into_the_same_buffers_once_the_main_process_lets_go():
    pools, values = [], []
    for item in _loader(Filled(12, limit=8)):
        assert item["lease"] is not None and int(item["lease"]) == 1
        release_when_freed(item["views"], item["lease"])
        values.append(item["views"].unique().tolist())
        pools.append(item["buffers"])
        del item
        gc.collect()
    assert values == [[float(i)] for i in range(12)]
    # prefetched (2), the one in hand and the one being freed: a handful of buffers, not 12
    assert max(pools) <= 4, pools


def test_views_the_main_process_still_holds_are_never_overwritten():
    held = list(_loader(Filled(7, limit=3)))  # nothing released
    assert [int(item["views"].unique()) for item in held] == list(range(7))
    # the first three went out in pooled buffers; with all three held, plain memory after that
    assert [item["lease"] is not None for item in held] == [True] * 3 + [False] * 4


def test_a_buffer_taken_but_not_handed_over_returns_to_the_pool():
    buffers = ViewBuffers(limit=2)
    with buffers.building():
        first = buffers.empty(SHAPE)
        views = first.flip(1)  # a new tensor went out (a channel flip, SlowFast's pathways)
        assert buffers.claim(views) is None
    with pytest.raises(RuntimeError), buffers.building():  # building failed half way
        buffers.empty(SHAPE)
        raise RuntimeError("corrupt video")
    with buffers.building():
        again = buffers.empty(SHAPE)
    assert again.data_ptr() == first.data_ptr() and buffers.count == 1


def test_a_new_shape_drops_free_buffers_of_the_old_one():
    buffers = ViewBuffers(limit=2)
    with buffers.building():
        buffers.empty(SHAPE)
    with buffers.building():
        buffers.empty((2, 3, 2, 5, 5))
    assert buffers.count == 1


def test_video_views_from_a_worker_equal_the_main_processes_and_are_never_overwritten(tmp_path):
    lines = []
    for i in range(5):
        write_index_video(tmp_path / f"v{i}.mp4", num_frames=40 + 5 * i, fps=30)
        lines.append(f"v{i}.mp4 {i}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    records = read_path_label_list(tmp_path / "list.txt", tmp_path).records
    # SlowFast: its fast pathway is the pooled batch itself, its slow one a new tensor
    for name in ("x3d_xs", "slowfast_r50"):
        entry = dataclasses.replace(zoo.get_entry(name), side_size=32, crop_size=32)
        dataset = VideoViews(records, InputSpec.from_entry(entry, "2x3"))
        held = list(_loader(dataset))  # all held: the worker must not build into any of them
        for item in held:
            expected = dataset[item["index"]]  # in this process: no pool, no lease
            assert "lease" in item and "lease" not in expected
            got, want = item["views"], expected["views"]
            for g, w in zip(got, want) if isinstance(got, list) else [(got, want)]:
                torch.testing.assert_close(g, w, rtol=0, atol=0)
            if isinstance(got, list):  # both pathways came over in the one pooled block
                assert got[0].untyped_storage().data_ptr() == got[1].untyped_storage().data_ptr()


@pytest.mark.parametrize("first", [0, 1])
def test_a_lease_on_two_pathways_waits_for_both(first):
    pathways = [torch.zeros(2, 3), torch.zeros(4, 3)]
    lease = torch.ones(1, dtype=torch.int32).share_memory_()
    release_when_freed(pathways, lease)
    del pathways[first]
    gc.collect()
    assert int(lease) == 1
    pathways.clear()
    gc.collect()
    assert int(lease) == 0


def test_a_lease_that_is_not_the_workers_memory_is_refused():
    with pytest.raises(ValueError, match="pin_memory"):
        release_when_freed(torch.zeros(2), torch.ones(1, dtype=torch.int32))


@pytest.mark.parametrize("name", ["x3d_xs", "slowfast_r50"])
def test_an_evaluation_with_workers_scores_as_one_without(tmp_path, name):
    labels = [(i % 4, i % 4) for i in range(6)]
    annotations = write_colour_dataset(tmp_path / "videos", labels)
    ds = read_path_label_list(annotations, tmp_path / "videos")
    entry = dataclasses.replace(zoo.get_entry(name), side_size=32, crop_size=32)
    # 4 views per pass, 6 per video: passes span two videos, slices of both held at once
    runs = {w: evaluate(entry, ds, tmp_path / f"w{w}", model_factory=colour_model, views="2x3", workers=w,
                        batch_size=4, progress=False, log=None) for w in (0, 2)}
    assert runs[0]["metrics"] == runs[2]["metrics"] and runs[2]["metrics"]["top1"] == 100.0
    assert (tmp_path / "w0" / "scores.jsonl").read_text() == (tmp_path / "w2" / "scores.jsonl").read_text()


def test_workers_decode_while_the_model_is_built_and_stop_if_building_fails(tmp_path):
    import multiprocessing

    annotations = write_colour_dataset(tmp_path / "videos", [(i % 4, i % 4) for i in range(3)])
    ds = read_path_label_list(annotations, tmp_path / "videos")
    entry = dataclasses.replace(zoo.get_entry("x3d_xs"), side_size=32, crop_size=32)
    seen = []

    def factory(e):  # the workers are already there when the model is made
        seen.append(len(multiprocessing.active_children()))
        return colour_model(e)

    result = evaluate(entry, ds, tmp_path / "ok", model_factory=factory, views="1x1", workers=2, progress=False, log=None)
    assert seen == [2] and result["metrics"]["top1"] == 100.0

    def broken(e):
        raise RuntimeError("no such checkpoint")

    with pytest.raises(RuntimeError, match="no such checkpoint"):
        evaluate(entry, ds, tmp_path / "broken", model_factory=broken, views="1x1", workers=2, progress=False, log=None)
    assert multiprocessing.active_children() == []  # the workers were stopped, not left decoding


def test_a_failure_while_scoring_stops_the_workers_before_the_context_closes(tmp_path):
    # under torchrun the failed rank then waits for the others: it must not keep its workers meanwhile
    import multiprocessing

    from tqdm import tqdm

    from benchmarks import evaluate as ev
    annotations = write_colour_dataset(tmp_path / "videos", [(i % 4, i % 4) for i in range(4)])
    ds = read_path_label_list(annotations, tmp_path / "videos")
    entry = dataclasses.replace(zoo.get_entry("x3d_xs"), side_size=32, crop_size=32)
    spec = InputSpec.from_entry(entry, "1x1")

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("out of memory")

    with ev.decoded_videos(ds.records, spec, workers=2, batch_size=None, device="cpu") as items:
        assert len(multiprocessing.active_children()) == 2
        with pytest.raises(RuntimeError, match="out of memory"):
            ev._score_share(Broken(), items, ds.records, spec, ds, entry, tmp_path / "s.jsonl", tmp_path / "f.jsonl",
                            batch_size=None, device="cpu", bar=tqdm(disable=True), tick=lambda: None)
        assert multiprocessing.active_children() == []


def test_without_workers_a_gpu_run_starts_its_decoding_thread_before_the_model_is_built(tmp_path):
    import threading

    from benchmarks import evaluate as ev
    annotations = write_colour_dataset(tmp_path / "videos", [(0, 0), (1, 1)])
    ds = read_path_label_list(annotations, tmp_path / "videos")
    spec = InputSpec.from_entry(dataclasses.replace(zoo.get_entry("x3d_xs"), side_size=32, crop_size=32), "1x1")

    def decoding():
        return [t for t in threading.enumerate() if t.name == "videozoo-prefetch"]

    # the model would go to the GPU; the decoding stays on the CPU (no GPU needed to run this)
    with ev.decoded_videos(ds.records, spec, workers=0, batch_size=None, device="cuda") as items:
        assert decoding()  # running before anyone asked for a video
        assert [item["index"] for item in items] == [0, 1]
    assert not decoding()
