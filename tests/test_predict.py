"""zoo.predict / zoo predict: the shipped demo model names the actions of held-out demo videos."""

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

import zoo
from benchmarks.demo import videos as demo_data
from benchmarks.cli import main as zoo_main
from benchmarks.predict import picture_layout, save_picture
from zoo.prediction import PredictError, Prediction
from zoo.input.video import read_views
from zoo.classes import class_names
from zoo.transforms import InputSpec

ROOT = Path(__file__).resolve().parents[1]
DEMO = "i3d_tiny_8x4_demo"
RECORDED = json.loads((ROOT / "benchmarks" / "demo" / "published.json").read_text())["predictions"]
VIDEOS = 5


@pytest.fixture(scope="module")
def demo_videos(tmp_path_factory):
    """The first held-out demo videos (never trained on) and their relative keys."""
    root = tmp_path_factory.mktemp("demo")
    ann = demo_data.generate(root, {"val": demo_data.DEFAULT_SPLITS["val"]}, limit=VIDEOS, progress=False)["val"]
    keys = [line.split()[0] for line in ann.read_text().splitlines()]
    return root, keys


@pytest.fixture(scope="module")
def demo_model():
    return zoo.create_model(DEMO, pretrained=True)


def test_demo_model_names_the_held_out_actions(demo_videos, demo_model):
    """Top-1 is the prediction recorded at training time (same protocol), with its name and score."""
    root, keys = demo_videos
    right = 0
    for key in keys:
        result = zoo.predict(demo_model, root / key, top=3)
        recorded = RECORDED[key]
        assert result.indices[0] == recorded["pred"], key
        assert result.top[0] == (demo_data.CLASSES[recorded["pred"]], pytest.approx(recorded["score"], abs=1e-3))
        assert result.views == "5x3" and result.scores.shape == (5,)
        assert float(result.scores.sum()) == pytest.approx(1.0, abs=1e-5)  # mean of softmax
        assert [s for _, s in result.top] == sorted([s for _, s in result.top], reverse=True)
        right += result.top[0][0] == demo_data.CLASSES[recorded["label"]]
    assert right >= VIDEOS - 1  # the demo model is 92% right; these five are recorded right


def test_by_name_with_other_views(demo_videos):
    root, keys = demo_videos
    result = zoo.predict(DEMO, root / keys[0], views="1x1", top=1)  # a name loads the published weights
    assert result.views == "1x1" and result.top[0][0] == demo_data.CLASSES[RECORDED[keys[0]]["label"]]


def _all_frames(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return torch.from_numpy(np.stack(frames)), float(stream.average_rate)


def test_decoded_tensor_gives_the_files_scores(demo_videos, demo_model):
    root, keys = demo_videos
    frames, fps = _all_frames(root / keys[1])
    from_file = zoo.predict(demo_model, root / keys[1])
    from_tensor = zoo.predict(demo_model, frames, fps=fps)
    assert torch.allclose(from_tensor.scores, from_file.scores, atol=1e-5)
    with pytest.raises(PredictError, match=r"\(T, H, W, 3\)"):
        zoo.predict(demo_model, frames.permute(0, 3, 1, 2))


def write_frame_folder(video, folder) -> tuple[torch.Tensor, float]:
    """The video's frames as lossless PNG files in ``folder``; returns the frames and fps."""
    from PIL import Image

    frames, fps = _all_frames(video)
    folder.mkdir()
    for i, frame in enumerate(frames.numpy(), 1):
        Image.fromarray(frame).save(folder / f"{i:06d}.png")
    return frames, fps


def test_frame_folder(demo_videos, demo_model, tmp_path):
    """A folder of frames (PNG, lossless) gives the video's prediction."""
    root, keys = demo_videos
    frames, fps = write_frame_folder(root / keys[2], tmp_path / "frames")
    from_folder = zoo.predict(demo_model, tmp_path / "frames")
    assert from_folder.indices[0] == zoo.predict(demo_model, frames, fps=fps).indices[0]


def test_a_frame_folder_is_read_at_the_fps_given(demo_videos, demo_model, tmp_path, capsys):
    """fps= is the rate of the folder's frames, as of a tensor's; a video file's rate is its own."""
    root, keys = demo_videos
    frames, fps = write_frame_folder(root / keys[2], tmp_path / "frames")
    slow = zoo.predict(demo_model, tmp_path / "frames", fps=fps / 2, views="2x1")
    assert slow.fps == fps / 2
    torch.testing.assert_close(slow.scores, zoo.predict(demo_model, frames, fps=fps / 2, views="2x1").scores)
    default = zoo.predict(demo_model, tmp_path / "frames", views="2x1")
    assert default.fps == 30.0 and not torch.equal(default.scores, slow.scores)  # other frames: the rate is used
    with pytest.raises(PredictError, match=r"fps= is for tensors and frame folders; a video file's frame rate is its container's"):
        zoo.predict(demo_model, root / keys[2], fps=15)
    # the command: --fps for folders, refused for a file
    assert zoo_main(["predict", str(tmp_path / "frames"), "--model", DEMO, "--pretrained", "--fps", str(fps / 2),
                     "--views", "2x1", "--json", "--quiet"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["fps"] == fps / 2 and line["top"][0]["score"] == pytest.approx(slow.top[0][1], abs=1e-6)
    assert zoo_main(["predict", str(root / keys[2]), "--model", DEMO, "--pretrained", "--fps", "15", "--quiet"]) == 2
    assert "--fps is for frame folders" in capsys.readouterr().err


def test_hub_model_predicts_like_create_model(demo_videos, demo_model):
    root, keys = demo_videos
    hub_model = torch.hub.load(str(ROOT), DEMO, source="local", pretrained=True)
    assert hub_model.zoo_entry == DEMO  # the entry (hence protocol and class names) travels with it
    a, b = zoo.predict(hub_model, root / keys[3]), zoo.predict(demo_model, root / keys[3])
    assert torch.equal(a.scores, b.scores) and a.top == b.top


def test_a_class_list_given_that_does_not_fit_the_model_is_refused(demo_videos, demo_model, tmp_path, capsys):
    root, keys = demo_videos
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    with pytest.raises(PredictError, match=r"outputs 5 scores but the class list given \(.*three.txt\) has 3 names"):
        zoo.predict(demo_model, root / keys[0], views="1x1", classes=tmp_path / "three.txt")
    assert zoo_main(["predict", str(root / keys[0]), str(root / keys[1]), "--model", DEMO, "--pretrained",
                     "--classes", str(tmp_path / "three.txt"), "--views", "1x1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("has 3 names") == 1 and "Traceback" not in err  # one line, not one per video
    # a list of the right length is taken as given
    five = zoo.predict(demo_model, root / keys[0], views="1x1", classes=list("vwxyz"))
    assert [n for n, _ in five.top][0] in "vwxyz"


def test_a_missing_video_is_named_before_any_checkpoint_is_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")  # x3d_xs's published file is not cached: fetching it would fail
    with pytest.raises(PredictError, match=r"nothere.mp4: missing file"):
        zoo.predict("x3d_xs", tmp_path / "nothere.mp4")


def test_a_model_without_its_entry_is_refused(demo_videos):
    root, keys = demo_videos
    with pytest.raises(PredictError, match="zoo_entry"):
        zoo.predict(nn.Conv3d(3, 5, 1), root / keys[0])


def test_cli_table_and_json_lines(demo_videos, capsys):
    root, keys = demo_videos
    paths = [str(root / k) for k in keys[:2]]
    assert zoo_main(["predict", *paths, "--model", DEMO, "--pretrained", "--top", "2", "--quiet"]) == 0
    table = capsys.readouterr().out
    for key in keys[:2]:
        assert f"|      1 | {demo_data.CLASSES[RECORDED[key]['pred']]}" in table
    assert zoo_main(["predict", *paths, "--model", DEMO, "--pretrained", "--json", "--workers", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["video"] for line in lines] == paths
    for line, key in zip(lines, keys):
        assert line["model"] == DEMO and line["views"] == "5x3" and len(line["top"]) == 5
        assert line["top"][0]["index"] == RECORDED[key]["pred"]
        assert line["top"][0]["class"] == demo_data.CLASSES[RECORDED[key]["pred"]]


def test_picture_size_and_strip_pixels(demo_videos, demo_model, tmp_path, capsys):
    """The PNG is the layout's size; its strip holds the centre view's frames, pixel for pixel."""
    from PIL import Image

    root, keys = demo_videos
    out = tmp_path / "seen.png"
    assert zoo_main(["predict", str(root / keys[0]), "--model", DEMO, "--pretrained", "--show", str(out)]) == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    layout = picture_layout(8, 32, 32, 5)
    # by hand: 32 px frames shown x3 (96 px), 8 in a row with 4 px gaps, beside a 440 px chart band
    assert (layout.scale, layout.width, layout.height) == (3, 16 + 8 * 96 + 7 * 4 + 16 + 440 + 16, 40 + (5 * 30 + 40) + 16)
    assert image.shape == (layout.height, layout.width, 3)
    # the views the model saw: 5 clips x 3 crops, the centre one is clip 2, crop 1 (view 7)
    spec = InputSpec.from_entry(zoo.get_entry(DEMO))
    views, _ = read_views(root / keys[0], spec)
    centre = views[2 * 3 + 1]  # (C, T, H, W), normalised with mean 0.45, std 0.225
    expected = ((centre * 0.225 + 0.45) * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 3, 0).numpy()
    for t in range(8):
        x, y = layout.frame_origin(t)
        block = image[y : y + 96, x : x + 96]
        assert np.array_equal(block[::3, ::3], expected[t]), t
        assert np.array_equal(block, np.repeat(np.repeat(expected[t], 3, 0), 3, 1))
    assert "picture of" in capsys.readouterr().err


def test_picture_of_many_frames_wraps_rows(tmp_path):
    frames = torch.randint(0, 256, (32, 40, 40, 3), dtype=torch.uint8)
    prediction = Prediction("v.mp4", "m", "1x1", torch.rand(3), [("a", 0.5), ("b", 0.3), ("c", 0.2)], [0, 1, 2],
                            ["a", "b", "c"], frames=frames)
    path = save_picture(prediction, tmp_path / "p.png")
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    layout = picture_layout(32, 40, 40, 3)
    assert layout.per_row == 8 and layout.scale == 3 and image.shape == (layout.height, layout.width, 3)
    x, y = layout.frame_origin(31)  # last frame: row 4, column 8
    assert np.array_equal(image[y : y + 120 : 3, x : x + 120 : 3], frames[31].numpy())


def test_bad_inputs_are_named_and_the_rest_scored(demo_videos, tmp_path, capsys):
    root, keys = demo_videos
    good = root / keys[0]
    corrupt = tmp_path / "corrupt.mp4"
    data = good.read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])  # cut short: the container promises more frames
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    short = tmp_path / "short.mp4"
    demo_data.write_video(short, demo_data.render_frames(demo_data.video_specs("val", 1)[0])[:3], 25)
    missing = tmp_path / "missing.mp4"
    videos = [missing, corrupt, good, text, short]
    code = zoo_main(["predict", *map(str, videos), "--model", DEMO, "--pretrained", "--json", "--quiet"])
    assert code == 2
    captured = capsys.readouterr()
    lines = {Path(x["video"]).name: x for x in map(json.loads, captured.out.splitlines())}
    assert lines["missing.mp4"]["error"] == "missing file"
    assert lines["corrupt.mp4"]["error"].startswith(("truncated", "decoding failed", "unreadable", "no decodable"))
    assert lines["notes.mp4"]["error"].startswith("unreadable")
    assert lines["short.mp4"]["error"].startswith("too short: 3 frame(s)")
    assert lines[good.name]["top"][0]["index"] == RECORDED[keys[0]]["pred"]  # the good one is still scored
    for video in (missing, corrupt, text, short):
        assert f"zoo predict: {video}: " in captured.err
    assert "4 of 5 video(s) failed" in captured.err


def test_unknown_model_suggests_close_names(demo_videos, capsys):
    root, keys = demo_videos
    assert zoo_main(["predict", str(root / keys[0]), "--model", "i3d_tiny_demo"]) == 2
    err = capsys.readouterr().err
    assert "Unknown model 'i3d_tiny_demo'" in err and "i3d_tiny_8x4_demo" in err


def test_a_shipped_list_of_the_wrong_length_falls_back_to_indices(demo_videos, tmp_path):
    root, keys = demo_videos
    tuned = zoo.create_model(DEMO, pretrained=True, num_classes=3)  # a head of other classes, given no list
    result = zoo.predict(tuned, root / keys[0], views="1x1")
    assert [n for n, _ in result.top] == [f"class_{i}" for i in result.indices]
    assert "zoo's demo class list has 5 names; showing class indices" in result.warnings[0]


def test_a_charades_class_file_names_the_outputs(demo_videos, demo_model, tmp_path):
    root, keys = demo_videos
    charades = tmp_path / "Charades_v1_classes.txt"
    charades.write_text("".join(f"c{i:03d} Doing thing {i}\n" for i in range(5)))
    assert zoo.predict(demo_model, root / keys[0], classes=charades).top[0][0] == f"Doing thing {RECORDED[keys[0]]['pred']}"


class BoxStub(nn.Module):
    """An 'AVA detector' whose answer is known: box k scores 1 on class int(x1 in input pixels) % 80."""

    zoo_entry = "slow_r50_4x16_ava"
    output_activation = "sigmoid"

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, clip, boxes):
        self.seen.append(tuple(clip.shape))
        out = torch.zeros(boxes.shape[0], 80)
        out[torch.arange(boxes.shape[0]), boxes[:, 1].long() % 80] = 1.0
        return out


def test_ava_boxes_get_their_own_scores(demo_videos, tmp_path):
    root, keys = demo_videos
    video = root / keys[0]  # 64 x 48: short side 48 -> 256, long side floor(64 / 48 * 256) = 341
    csv = tmp_path / "boxes.csv"
    csv.write_text(f"video_id,timestamp,x1,y1,x2,y2\n{video.stem},1,0.1,0.2,0.5,0.9\nother,1,0.3,0.2,0.5,0.9\n"
                   f"{video.stem},0,0.2,0.1,0.6,0.8\n")
    stub = BoxStub()
    result = zoo.predict(stub, video, boxes=csv, top=1)
    names = class_names("ava")
    # boxes scale as AVA's scale_boxes: x1 * 64 pixels, times the long side's factor 341 / 64
    assert [(b["timestamp"], b["top"][0]["index"]) for b in result.boxes] == [(0.0, int(0.2 * 341)), (1.0, int(0.1 * 341))]
    assert result.boxes[0]["top"][0]["class"] == names[int(0.2 * 341)]
    assert stub.seen == [(1, 3, 4, 256, 341)] * 2  # 4 frames, no crop: the whole frame holds the boxes


def test_ava_box_times_are_whole_seconds(demo_videos, tmp_path):
    root, keys = demo_videos
    csv = tmp_path / "boxes.csv"
    csv.write_text("0.5,0.1,0.2,0.5,0.9\n")
    with pytest.raises(PredictError, match="whole seconds"):
        zoo.predict(BoxStub(), root / keys[0], boxes=csv)


def test_ava_boxes_outside_the_video_are_refused_and_a_box_per_action_is_one_box(demo_videos, tmp_path):
    root, keys = demo_videos
    video = root / keys[0]  # a few seconds long: AVA's own timestamps (902..) are seconds of a whole movie
    (tmp_path / "movie.csv").write_text(f"{video.stem},902,0.1,0.2,0.5,0.9,12,0\n")
    with pytest.raises(PredictError, match=r"box timestamp\(s\) 902 s outside .*subtract 900"):
        zoo.predict(BoxStub(), video, boxes=tmp_path / "movie.csv")
    # AVA's annotation rows: video, second, box, action, person id; the same box once per action
    (tmp_path / "actions.csv").write_text(f"{video.stem},1,0.1,0.2,0.5,0.9,12,0\n{video.stem},1,0.1,0.2,0.5,0.9,80,0\n")
    assert len(zoo.predict(BoxStub(), video, boxes=tmp_path / "actions.csv").boxes) == 1


def test_ava_detectors_refuse_fps(demo_videos, tmp_path):
    root, keys = demo_videos
    (tmp_path / "boxes.csv").write_text("1,0.1,0.2,0.5,0.9\n")
    with pytest.raises(PredictError, match="fps= is not taken by the AVA detectors"):
        zoo.predict(BoxStub(), root / keys[0], boxes=tmp_path / "boxes.csv", fps=25)


def test_ava_without_boxes_says_what_is_missing(demo_videos):
    root, keys = demo_videos
    with pytest.raises(PredictError, match="--boxes"):
        zoo.predict(BoxStub(), root / keys[0])


def test_a_folder_of_videos_is_pointed_at_its_files(tmp_path, capsys):
    """A folder is read as a frame-folder video: one holding videos says to pass them instead."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"")
    assert zoo_main(["predict", str(tmp_path / "clips"), "--model", "i3d_tiny_8x4_demo"]) == 2
    err = capsys.readouterr().err
    assert f"it holds 1 video file(s), e.g. a.mp4: give the video files themselves (e.g. {tmp_path / 'clips'}/*.mp4)" in err


def test_a_random_network_is_said_in_python_as_on_the_command_line(capsys):
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    random = zoo.predict(zoo.create_model("i3d_tiny_8x4_demo"), clip)  # torch.hub.load's default too
    assert random.warnings == ["i3d_tiny_8x4_demo has random weights (no pretrained=True or checkpoint): "
                               "the scores mean nothing"]
    assert zoo.predict(zoo.create_model("i3d_tiny_8x4_demo", pretrained=True), clip).warnings == []


def test_bad_counts_and_views_are_usage_errors(capsys):
    for argv in (["predict", "a.mp4", "--model", "i3d_tiny_8x4_demo", "--views", "2"],
                 ["predict", "a.mp4", "--model", "i3d_tiny_8x4_demo", "--top", "0"],
                 ["speed", "x3d_xs", "--reps", "0"]):
        with pytest.raises(SystemExit) as stop:
            zoo_main(argv)
        assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --views: views must look like CLIPSxCROPS, e.g. 10x3; got '2'" in err
    assert "argument --top: must be 1 or more, got 0" in err and "argument --reps: must be 1 or more, got 0" in err
    with pytest.raises(ValueError, match="unknown dataset 'kinetics': the catalogue's are ava, charades, demo"):
        zoo.list_models(dataset="kinetics")


def test_an_image_is_named_as_such(tmp_path, capsys):
    from torchvision.io import write_png

    image = tmp_path / "frame.png"
    write_png(torch.zeros(3, 48, 64, dtype=torch.uint8), str(image))
    assert zoo_main(["predict", str(image), "--model", "i3d_tiny_8x4_demo", "--pretrained"]) == 2
    assert f"{image}: an image, not a video: give a video file, or a folder of its frames" in capsys.readouterr().err


def test_a_list_of_frame_files_gives_the_folders_scores(demo_videos, demo_model, tmp_path):
    root, keys = demo_videos
    folder = tmp_path / "frames"
    write_frame_folder(root / keys[1], folder)
    files = sorted(str(p) for p in folder.iterdir())
    from_files = zoo.predict(demo_model, files, views="1x1")
    torch.testing.assert_close(from_files.scores, zoo.predict(demo_model, folder, views="1x1").scores)
    assert from_files.video.endswith(f"({len(files)} frame files)")


def test_predict_leaves_a_training_model_in_training_mode_and_refuses_top_0():
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    model = zoo.create_model(DEMO, pretrained=True).train()
    frozen = next(m for m in model.modules() if isinstance(m, nn.BatchNorm3d)).eval()  # a loop's own choice
    zoo.predict(model, clip, views="1x1")
    assert model.training  # predict called from a training loop: BatchNorm keeps learning afterwards
    assert not frozen.training and sum(m.training for m in model.modules()) == len(list(model.modules())) - 1
    zoo.predict(model.eval(), clip, views="1x1")
    assert not model.training
    with pytest.raises(PredictError, match="top must be at least 1"):
        zoo.predict(model, clip, top=0)


def test_an_exported_file_by_name_says_how_to_run_it():
    with pytest.raises(PredictError, match=r"an exported file; run it with zoo.predict\(zoo.load_artifact\('m.onnx'\), video\)"):
        zoo.predict("m.onnx", torch.zeros(16, 48, 64, 3, dtype=torch.uint8))


def test_untrained_weights_are_warned_about_until_trained():
    """A new head (num_classes=K) or a random network is said until a training step changes it;
    zoo.optimize keeps the record."""
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    new_head = zoo.create_model(DEMO, pretrained=True, num_classes=3)
    assert zoo.predict(new_head, clip, views="1x1").warnings[-1] == (
        f"{DEMO}'s head (blocks.6.proj) is new and untrained (num_classes= without fine-tuning): the scores mean nothing")
    assert "random weights" in zoo.predict(zoo.optimize(zoo.create_model(DEMO), compile=False), clip, views="1x1").warnings[-1]
    assert "untrained" in zoo.predict(zoo.optimize(new_head, compile=False), clip, views="1x1").warnings[-1]
    for model in (zoo.create_model(DEMO, pretrained=True, num_classes=3), zoo.create_model(DEMO)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = model.train()(torch.rand(2, 3, 8, 32, 32)).logsumexp(-1).mean()
        loss.backward()
        optimizer.step()
        assert not any("mean nothing" in w for w in zoo.predict(model, clip, views="1x1").warnings)


def test_a_fine_tuned_checkpoint_names_its_classes_from_its_run_folder(tmp_path):
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    tuned = zoo.create_model(DEMO, pretrained=True, num_classes=3)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model_state": tuned.state_dict()}, run / "model.pyth")
    (run / "classes.txt").write_text("jump\nwave\nzoom\n")  # as zoo finetune leaves it
    model = zoo.create_model(DEMO, checkpoint=run / "model.pyth")
    assert model.zoo_classes == ["jump", "wave", "zoom"]
    result = zoo.predict(model, clip, views="1x1")
    assert sorted(result.classes) == ["jump", "wave", "zoom"] and result.warnings == []
    with pytest.raises(PredictError, match="has 2 names"):  # a list given of the wrong length
        zoo.predict(model, clip, views="1x1", classes=["a", "b"])
    (run / "classes.txt").write_text("jump\nwave\n")  # not the head's size: not used
    assert zoo.create_model(DEMO, checkpoint=run / "model.pyth").zoo_classes is None


def test_the_weights_record_holds_across_thread_counts_and_ends_when_trained():
    """The fingerprint is exact (integer sums of the bits): another thread count or reduction order
    does not make a random network look trained; a training step does make a published one given."""
    from zoo.provenance import current_weights, untrained

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = zoo.create_model("x3d_xs")
        torch.set_num_threads(1)
        assert untrained(model) == ("network", "")
    finally:
        torch.set_num_threads(threads)
    published = zoo.create_model(DEMO, pretrained=True)
    assert current_weights(published) == "published"
    with torch.no_grad():
        next(published.parameters()).add_(0.01)
    assert current_weights(published) == "given model (changed since: published)"


def test_the_json_line_of_a_random_network_says_so(demo_videos, capsys):
    root, keys = demo_videos
    assert zoo_main(["predict", str(root / keys[0]), "--model", DEMO, "--json", "--quiet"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["warnings"] == [f"{DEMO} has random weights (no --pretrained/--checkpoint): the scores mean nothing"]
    assert zoo_main(["predict", str(root / keys[0]), "--model", DEMO, "--pretrained", "--json", "--quiet"]) == 0
    assert "warnings" not in json.loads(capsys.readouterr().out)
