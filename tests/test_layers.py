"""The two layers and the one run configuration.

- ``import zoo`` loads no harness module, no PyAV and no OpenCV; predicting on a video loads PyAV and
  still no harness module (the library owns the input path).
- The import paths that moved keep working for one release, with a DeprecationWarning.
- ``zoo evaluate`` (a :class:`RunConfig` from the command line), :func:`run_evaluation` and the
  keyword form :func:`evaluate` describe one run the same way: the same ``config.json``, so
  each resumes the others' folder; a different job is refused.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import main as zoo_main
from benchmarks.datasets import load_dataset
from benchmarks.evaluate import SCORES_FILE, evaluate, run_evaluation
from benchmarks.run_config import CONFIG_FILE, DataFiles, RunConfig, Weights
from tests.videos import colour_model, write_colour_dataset, write_colour_video

REPO = Path(__file__).resolve().parents[1]
LOADED = "import sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'benchmarks', 'av', 'pytorchvideo', 'cv2'}))"


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_import_zoo_loads_no_harness_and_no_pyav(tmp_path):
    video = write_colour_video(tmp_path / "clip.mp4", 100, num_frames=40)
    before, after, top = _run(
        f"import zoo; {LOADED}\n"
        f"result = zoo.predict('i3d_tiny_8x4_demo', {str(video)!r}, top=1)\n"
        f"{LOADED}\nprint(type(result).__module__, len(result.top))"
    )
    assert before == "[]"  # nothing of the harness, no decoder until a video is decoded
    assert after == "['av']"  # the decode brought PyAV, and still nothing of the harness
    assert top == "zoo.prediction 1"  # zoo.predict returns the library's Prediction


def test_old_import_paths_warn_and_give_the_moved_objects():
    import benchmarks.ava.keyframes
    import benchmarks.frames
    import benchmarks.predict
    import benchmarks.video
    import zoo.input.frames
    import zoo.input.keyframes
    import zoo.input.video
    import zoo.prediction

    moved = [(benchmarks.video, "read_views", zoo.input.video), (benchmarks.video, "VideoReadError", zoo.input.video),
             (benchmarks.frames, "read_frames", zoo.input.frames),
             (benchmarks.ava.keyframes, "AvaProtocol", zoo.input.keyframes),
             (benchmarks.predict, "predict", zoo.prediction), (benchmarks.predict, "Prediction", zoo.prediction)]
    for old, name, new in moved:
        with pytest.warns(DeprecationWarning, match=rf"{old.__name__}\.{name} moved to {new.__name__}\.{name}"):
            assert getattr(old, name) is getattr(new, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        benchmarks.video.nothing  # noqa: B018


@pytest.fixture(scope="module")
def colour_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    return root, write_colour_dataset(root, [(0, 0), (1, 1), (2, 2), (3, 0)])


def test_the_command_line_and_both_python_forms_are_one_run(colour_set, tmp_path):
    root, annotations = colour_set
    out = tmp_path / "run"
    argv = ["evaluate", "x3d_xs", "--annotations", str(annotations), "--video-root", str(root), "--builder",
            "tests.videos:colour_model", "--views", "1x1", "--workers", "0", "--limit", "2", "--out", str(out),
            "--quiet"]
    assert zoo_main(argv) == 0
    written = json.loads((out / CONFIG_FILE).read_text())
    assert written == {"model": "x3d_xs_4x12_kinetics400", "views": "1x1", "dataset": "kinetics400",
                       "annotations": str(annotations.resolve()), "weights": "custom factory",
                       # what changes labels or inputs under the same paths (a list of class indices: no names)
                       "classes": None,
                       "annotations_sha256": hashlib.sha256(annotations.read_bytes()).hexdigest(),
                       "video_root": str(root.resolve())}
    assert len((out / SCORES_FILE).read_text().splitlines()) == 2

    # the same run from Python: the configuration, with the dataset read from its files ...
    config = RunConfig("x3d_xs", data=DataFiles(str(annotations), str(root)),
                       weights=Weights(builder="tests.videos:colour_model"), views="1x1", out=str(out))
    result = run_evaluation(config, progress=False, log=None)  # resumes: the same job, 2 more videos
    assert (result["videos"], result["total"]) == (4, 4)
    # ... and the keyword form, whose arguments are the configuration's fields
    again = evaluate("x3d_xs", load_dataset("kinetics400", annotations, root), out, model_factory=colour_model, views="1x1",
                     progress=False, log=None)
    assert again["metrics"] == result["metrics"] and json.loads((out / CONFIG_FILE).read_text()) == written
    assert len((out / SCORES_FILE).read_text().splitlines()) == 4  # nothing scored twice

    # how it runs may change (workers), what it is may not
    with pytest.raises(ValueError, match="views: '1x1' before, '2x1' now"):
        run_evaluation(RunConfig("x3d_xs", data=config.data, weights=config.weights, views="2x1", workers=2,
                                 out=str(out)), progress=False, log=None)


def test_run_config_from_the_command_line_and_its_default_folder():
    from benchmarks.cli import build_parser

    args = build_parser().parse_args(["evaluate", "x3d_xs", "--annotations", "a.csv", "--video-root", "v", "--pretrained",
                                      "--protocol-of", "mvit_base_16x4", "--batch-size", "8", "--dtype", "bf16"])
    config = RunConfig.from_args(args)
    assert config.data == DataFiles(annotations="a.csv", video_root="v")
    assert config.weights == Weights(pretrained=True)
    assert (config.batch_size, config.dtype, config.protocol_of, config.workers) == (8, "bf16", "mvit_base_16x4", 2)
    # the default folder names the views of the protocol it runs under (MViT-B's 5x1) and its canonical name
    assert config.out_dir("x3d_xs_4x12_kinetics400").as_posix() == \
        "runs/evaluate/x3d_xs_4x12_kinetics400_5x1_protocol_of_mvit_b_16x4_kinetics400"
    with pytest.raises(AttributeError):
        config.workers = 4  # frozen: one description of the run, passed around unchanged
