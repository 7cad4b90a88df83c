"""zoo features: each video's embedding is the model's head input, pooled over positions and the
entry's test views, computed here directly; a killed run resumes without redoing a video."""

import json

import torch
from torch.nn import functional as F

import zoo
from benchmarks.cli import main as zoo_main
from benchmarks.datasets import read_video_folders
from benchmarks.demo.videos import CLASSES, VideoSpec, render_frames, write_video
from benchmarks.transfer.features import FEATURES_FILE, read_features
from zoo.input.video import read_views
from zoo.transforms import InputSpec

DEMO = "i3d_tiny_8x4_demo"


def direct_embedding(model, views):
    """The demo I3D's head input by hand: the backbone blocks, the head's average pool, the mean
    over the pooled positions, then over the views."""
    x = views
    for block in model.blocks[:-1]:
        x = block(x)
    head = model.blocks[-1]
    kernel = tuple(min(k, n) for k, n in zip(head.pool_kernel, x.shape[2:]))
    x = F.avg_pool3d(x, kernel, stride=1)  # (V, C, T', H', W')
    return x.flatten(2).mean(-1).mean(0)


def test_features_equal_the_pooled_head_input_and_resume(tmp_path):
    root = tmp_path / "clips"
    for label in (0, 4):
        for i in range(2):
            spec = VideoSpec(label, 30, 45, seed=7 * label + i)
            write_video(root / CLASSES[label] / f"{i}.mp4", render_frames(spec), spec.fps)
    dataset = read_video_folders(root)
    out = tmp_path / "features"
    args = ["features", DEMO, "--pretrained", "--dataset", "folders", "--annotations", str(root),
            "--views", "2x3", "--workers", "0", "--out", str(out), "--quiet"]
    assert zoo_main(args) == 0
    found = read_features(out / FEATURES_FILE)
    assert list(found) == [r.key for r in dataset.records]

    model = zoo.create_model(DEMO, pretrained=True).eval()
    spec = InputSpec.from_entry(zoo.get_entry(DEMO), "2x3")
    with torch.no_grad():
        for record in dataset.records:
            views, _ = read_views(record.path, spec)
            assert views.shape[0] == 6
            expected = direct_embedding(model, views)
            got = torch.tensor(found[record.key]["embedding"])
            assert got.shape == (model.blocks[-1].proj.in_features,) == expected.shape
            torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
            assert found[record.key]["label"] == record.label

    # a kill: the file lost its last two videos and ends in a half-written line
    lines = (out / FEATURES_FILE).read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["embedding"] = [0.0] * len(first["embedding"])  # marks a video a resume must not redo
    (out / FEATURES_FILE).write_text(json.dumps(first) + "\n" + lines[1] + lines[2][:40])
    assert zoo_main(args) == 0
    again = read_features(out / FEATURES_FILE, repair=False)
    assert list(again) == list(found)
    assert again[first["key"]]["embedding"] == first["embedding"]  # kept, not recomputed
    for key in list(found)[1:]:
        torch.testing.assert_close(torch.tensor(again[key]["embedding"]), torch.tensor(found[key]["embedding"]))
    assert len((out / FEATURES_FILE).read_text().splitlines()) == 4


def test_a_kinetics_csv_of_other_classes_is_numbered_by_its_own_names(tmp_path, capsys):
    """Without --dataset a Kinetics-format CSV is read as Kinetics-400 (a subset keeps the
    checkpoints' numbering); one of the user's own classes is numbered by its sorted names
    instead of refused, and OUT/classes.txt says what each "label" index means."""
    root = tmp_path / "videos"
    for i, yid in enumerate(("aaa", "bbb")):
        spec = VideoSpec(i, 30, 45, seed=i)
        write_video(root / f"{yid}_000000_000002.mp4", render_frames(spec), spec.fps)

    def features(labels, out):
        csv = tmp_path / f"{out}.csv"
        csv.write_text("label,youtube_id,time_start,time_end,split\n"
                       + "".join(f"{label},{yid},0,2,val\n" for label, yid in zip(labels, ("aaa", "bbb"))))
        args = ["features", DEMO, "--pretrained", "--annotations", str(csv), "--video-root", str(root),
                "--views", "1x1", "--workers", "0", "--out", str(tmp_path / out), "--quiet"]
        assert zoo_main(args) == 0
        found = read_features(tmp_path / out / FEATURES_FILE)
        classes = (tmp_path / out / "classes.txt").read_text().splitlines()
        return {k.split("_")[0]: classes[v["label"]] for k, v in found.items()}, classes

    named, classes = features(["zumba", "abseiling"], "kinetics_subset")
    assert named == {"aaa": "zumba", "bbb": "abseiling"} and len(classes) == 400 and classes.index("zumba") == 399
    assert "note" not in capsys.readouterr().err

    named, classes = features(["wave", "jump"], "own")
    assert named == {"aaa": "wave", "bbb": "jump"} and classes == ["jump", "wave"]
    assert "labels outside Kinetics-400's classes" in capsys.readouterr().err
