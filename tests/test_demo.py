"""The demo: generated videos, the shipped model and its published accuracy, reproduced by the harness."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from benchmarks.demo import videos as demo_data
from benchmarks.datasets import read_path_label_list
from benchmarks.reproduce import DEMO_ENTRY, evaluate_demo, run_dir

DEMO_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "demo"
PUBLISHED = json.loads((DEMO_DIR / "published.json").read_text())


def test_demo_entry_is_catalogued_with_its_published_figures():
    entry = zoo.get_entry(DEMO_ENTRY)
    assert (entry.dataset, entry.arch, entry.num_classes, entry.views_label) == ("demo", "i3d", 5, "3 x 5")
    assert entry.published == {"top1": PUBLISHED["top1"], "top5": PUBLISHED["top5"]}
    assert PUBLISHED["held_out_videos"] == demo_data.DEFAULT_SPLITS["val"] == 100
    # the recorded per-video predictions are the published top-1
    preds = PUBLISHED["predictions"].values()
    assert 100.0 * np.mean([p["label"] == p["pred"] for p in preds]) == pytest.approx(entry.published["top1"])
    assert DEMO_ENTRY not in zoo.aliases().values()  # not one of the published hub names


def test_shipped_checkpoint_matches_its_sha256_and_command():
    entry = zoo.get_entry(DEMO_ENTRY)
    path = Path(entry.url)
    # package data of the library: the entry loads without the harness
    assert path == Path(zoo.__file__).parent / "weights" / f"{DEMO_ENTRY}.pyth" and path.stat().st_size < 3_000_000
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == entry.sha256 == PUBLISHED["sha256"]
    assert path.with_name(path.name + ".sha256").read_text().split()[0] == digest
    command = (DEMO_DIR / "COMMAND.txt").read_text().strip()
    assert command == PUBLISHED["command"] and command.startswith("python -m benchmarks.demo.train")
    model = zoo.create_model(DEMO_ENTRY, pretrained=True)  # strict load, sha256 checked
    assert model(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 5)


def test_demo_model_is_a_narrow_i3d():
    """Same module tree as the published I3D R50 (keys exist there), far smaller."""
    demo = zoo.create_model(DEMO_ENTRY).state_dict()
    i3d = zoo.create_model("i3d_r50").state_dict()
    assert set(demo) <= set(i3d)
    assert demo["blocks.0.conv.weight"].shape[2:] == i3d["blocks.0.conv.weight"].shape[2:] == (5, 7, 7)
    assert sum(v.numel() for k, v in demo.items() if "running" not in k and "num_batches" not in k) < 200_000


def test_rendering_is_deterministic_and_labelled(tmp_path):
    specs = demo_data.video_specs("val", 10)
    assert sorted({s.label for s in specs}) == [0, 1, 2, 3, 4]  # balanced over the classes
    assert demo_data.video_specs("val", 10) == specs and demo_data.video_specs("train", 10) != specs
    files = demo_data.generate(tmp_path / "a", {"val": 3}, progress=False)
    again = demo_data.generate(tmp_path / "b", {"val": 3}, progress=False)
    ds = read_path_label_list(files["val"], tmp_path / "a")
    assert ds.classes == list(demo_data.CLASSES) and len(ds.records) == 3
    for record in ds.records:
        first = Path(record.path).read_bytes()
        assert first == (tmp_path / "b" / record.key).read_bytes()
    assert again["val"].read_text() == files["val"].read_text()


def test_moving_right_moves_right():
    """The actor's centre of mass (brightest shape) moves the way the label says."""
    spec = next(s for s in demo_data.video_specs("val", 20) if demo_data.CLASSES[s.label] == "moving_right")
    frames = demo_data.render_frames(spec)
    rng = np.random.default_rng(spec.seed)
    rng.integers(0, 140, size=3)  # background
    color = rng.integers(110, 256, size=3)
    xs = [np.nonzero((f == color).all(-1))[1].mean() for f in (frames[0], frames[-1])]
    assert xs[1] - xs[0] > 5


def _actor(spec, frames):
    """The actor's mask per frame: the pixels of its colour (drawn last, on top)."""
    rng = np.random.default_rng(spec.seed)
    rng.integers(0, 140, size=3)  # background
    color = rng.integers(110, 256, size=3)
    return [(f == color).all(-1) for f in frames]


def test_there_and_back_classes_turn_back_midway():
    """The second transfer task's classes: right then back left (x rises, then falls), left then
    back right, growing then shrinking back (the area peaks midway)."""
    def track(action, measure):
        spec = demo_data.transfer_spec("val", 0, action, 0)
        masks = _actor(spec, demo_data.render_frames(spec))
        return [measure(masks[i]) for i in (0, len(masks) // 2, -1)]

    x = lambda mask: np.nonzero(mask)[1].mean()  # noqa: E731
    start, turn, end = track("moving_right_then_left", x)
    assert turn - start > 5 and turn - end > 5
    start, turn, end = track("moving_left_then_right", x)
    assert start - turn > 5 and end - turn > 5
    start, turn, end = track("growing_then_shrinking", np.sum)
    assert turn > 1.5 * start and turn > 1.5 * end
    assert set(demo_data.TRANSFER_TASKS["there_and_back"]) == {
        "moving_right_then_left", "moving_left_then_right", "growing_then_shrinking"}


def test_speeds_classes_travel_less_and_more_than_the_demo_classes():
    """The third transfer task's classes: the demo's directions travel 30-60% of the room the
    actor has across the frame; slowly 10-25%, quickly 70-90% (the actor's centre, first frame to
    last, measured on the rendered frames: within a pixel of the drawn span)."""
    def travel(spec):
        masks = _actor(spec, demo_data.render_frames(spec))
        return np.nonzero(masks[-1])[1].mean() - np.nonzero(masks[0])[1].mean()

    for action, low, high in [("moving_right_slowly", 0.1, 0.25), ("moving_right_quickly", 0.7, 0.9),
                              ("moving_left_slowly", -0.25, -0.1), ("moving_left_quickly", -0.9, -0.7)]:
        for index in range(3):
            spec = demo_data.transfer_spec("val", 0, action, index)
            rng = np.random.default_rng(spec.seed)
            rng.integers(0, 140, size=3), rng.integers(110, 256, size=3), rng.integers(2)
            room = demo_data.WIDTH - 2 * rng.uniform(3.5, 6) - 4  # the radius is drawn fourth
            assert low * room - 1 <= travel(spec) <= high * room + 1, (action, index)
    for spec in demo_data.video_specs("val", 20):  # the demo's own: between the two
        if demo_data.CLASSES[spec.label] in ("moving_left", "moving_right"):
            rng = np.random.default_rng(spec.seed)
            rng.integers(0, 140, size=3), rng.integers(110, 256, size=3), rng.integers(2)
            room = demo_data.WIDTH - 2 * rng.uniform(3.5, 6) - 4
            assert 0.3 * room - 1 <= abs(travel(spec)) <= 0.6 * room + 1
    assert demo_data.TRANSFER_TASKS["speeds"] == ("moving_right_slowly", "moving_right_quickly",
                                                  "moving_left_slowly", "moving_left_quickly")


def test_transfer_training_sets_are_nested_and_rendered_anew_when_asked_otherwise(tmp_path):
    classes = ("shrinking", "moving_left_then_right")
    two = demo_data.generate_transfer(tmp_path / "a", {"train": 2, "val": 1}, classes=classes, progress=False)
    one = demo_data.generate_transfer(tmp_path / "b", {"train": 1, "val": 1}, classes=classes, progress=False)
    for action in classes:  # the first video of each class is the same in both sets, and so is val
        for split in ("train", "val"):
            assert (two[split] / action / "000.mp4").read_bytes() == (one[split] / action / "000.mp4").read_bytes()
    assert (two["train"] / "shrinking" / "001.mp4").is_file()
    # the same folder asked for fewer videos, or other classes, holds exactly those afterwards
    demo_data.generate_transfer(tmp_path / "a", {"train": 1}, classes=classes, progress=False)
    assert sorted(p.relative_to(two["train"]).as_posix() for p in two["train"].glob("*/*.mp4")) == [
        "moving_left_then_right/000.mp4", "shrinking/000.mp4"]
    demo_data.generate_transfer(tmp_path / "a", {"train": 1}, classes=classes[:1], progress=False)
    assert [p.parent.name for p in two["train"].glob("*/*.mp4")] == ["shrinking"]
    # a video deleted since is rendered again
    (two["train"] / "shrinking" / "000.mp4").unlink()
    demo_data.generate_transfer(tmp_path / "a", {"train": 1}, classes=classes[:1], progress=False)
    assert (two["train"] / "shrinking" / "000.mp4").read_bytes() == (one["train"] / "shrinking" / "000.mp4").read_bytes()
    # a folder holding someone else's files is refused, not deleted
    mine = tmp_path / "mine" / "train" / "cats" / "a.mp4"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"not ours")
    with pytest.raises(ValueError, match=r"mine/train holds files the demo's transfer videos are not"):
        demo_data.generate_transfer(tmp_path / "mine", {"train": 1}, classes=classes, progress=False)
    assert mine.read_bytes() == b"not ours"


def test_harness_reproduces_the_recorded_predictions(tmp_path):
    """The harness (own decoder, loader, aggregation) on the first 10 held-out videos gives
    the per-video predictions recorded at training time, hence the recorded accuracy there."""
    result = evaluate_demo(tmp_path, data_root=tmp_path / "data", videos=10, workers=0, progress=False)
    assert result["videos"] == 10 and result["failed"] == 0 and result["views"] == "5x3"
    lines = [json.loads(x) for x in (run_dir(tmp_path, DEMO_ENTRY) / "scores.jsonl").read_text().splitlines()]
    recorded = PUBLISHED["predictions"]
    for line in lines:
        assert line["views"] == 15
        assert int(np.argmax(line["scores"])) == recorded[line["key"]]["pred"], line["key"]
        assert max(line["scores"]) == pytest.approx(recorded[line["key"]]["score"], abs=1e-3)
    expected_top1 = 100.0 * np.mean([recorded[x["key"]]["pred"] == recorded[x["key"]]["label"] for x in lines])
    assert result["metrics"]["top1"] == pytest.approx(expected_top1)


def test_zoo_reproduce_resumes_and_fills_the_table(tmp_path):
    """``zoo reproduce`` on the demo set: published checkpoint, per-entry run folder, tables."""
    import pandas as pd

    from benchmarks.cli import main as zoo_main

    files = demo_data.generate(tmp_path / "data", {"val": 100}, limit=4, progress=False)
    argv = ["reproduce", "--dataset", "demo", "--annotations", str(files["val"]), "--video-root",
            str(tmp_path / "data"), "--workers", "0", "--out", str(tmp_path / "res")]
    assert zoo_main(argv) == 0
    scores = run_dir(tmp_path / "res", DEMO_ENTRY) / "scores.jsonl"
    first = scores.read_text()
    assert len(first.splitlines()) == 4
    assert zoo_main(argv) == 0  # resumes: nothing left to do, nothing scored twice
    assert scores.read_text() == first
    table = pd.read_csv(tmp_path / "res" / "demo.csv", comment="#").set_index("name")
    recorded = PUBLISHED["predictions"]
    keys = [json.loads(x)["key"] for x in first.splitlines()]
    expected = 100.0 * np.mean([recorded[k]["pred"] == recorded[k]["label"] for k in keys])
    assert table.loc[DEMO_ENTRY, "top1_reproduced"] == pytest.approx(expected)
    assert table.loc[DEMO_ENTRY, "eval_videos"] == 4
    assert (tmp_path / "res" / "kinetics400.md").is_file()


def test_the_command_line_renders_the_first_held_out_videos_and_a_transfer_task(tmp_path, capsys):
    """``python -m benchmarks.demo.videos``: the first videos of the full split (the same files as
    make run's), and a transfer task's class folders, with where they are printed."""
    assert demo_data.main(["--out", str(tmp_path / "demo"), "--split", "val=2", "--quiet"]) == 0
    listed = (tmp_path / "demo" / "val.txt").read_text().split("\n")[:2]
    full = demo_data.video_specs("val", demo_data.DEFAULT_SPLITS["val"])[:2]
    assert [line.split()[1] for line in listed] == [str(s.label) for s in full]
    assert f"val: {tmp_path / 'demo' / 'val.txt'}" in capsys.readouterr().out
    assert demo_data.main(["--out", str(tmp_path / "t"), "--transfer", "diagonals", "--per-class", "train=1", "--quiet"]) == 0
    assert sorted(p.parent.name for p in (tmp_path / "t" / "train").glob("*/*.mp4")) == sorted(demo_data.TRANSFER_TASKS["diagonals"])
    assert "zoo finetune --dataset folders --train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        demo_data.main(["--split", "val"])
    assert "expected SPLIT=COUNT" in capsys.readouterr().err
