"""What a user sees when a command is given something wrong: one line naming the file or the
option and what is wrong, nothing written to the run folder, and folders and summaries that
say what was measured (zoo evaluate / zoo predict with --artifact, --device, fine-tuned models)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import zoo

from benchmarks.cli import build_parser
from benchmarks.cli import main as zoo_main
from benchmarks.datasets import read_path_label_list
from benchmarks.evaluate import evaluate, merge_results
from benchmarks.run_config import DataFiles, RunConfig, Weights
from tests.videos import ColourModel, colour_model, write_colour_dataset
from zoo.deploy.artifact import ArtifactError, manifest_path, read_manifest, write_manifest

DEMO = "i3d_tiny_8x4_demo"


def fake_artifact(path, entry=DEMO):
    """A file with a complete, matching manifest: enough for every check made before it runs."""
    path.write_bytes(b"stands in for an exported model")
    write_manifest(path, {"entry": entry, "format": "onnx", "batch": 1, "output_activation": "softmax"})
    return path


def evaluate_artifact(tmp_path, artifact, *extra):
    (tmp_path / "val.txt").write_text("a.mp4 0\n")
    return zoo_main(["evaluate", DEMO, "--artifact", str(artifact), "--annotations", str(tmp_path / "val.txt"),
                     "--video-root", str(tmp_path), "--workers", "0", "--quiet", "--out", str(tmp_path / "out"),
                     *extra])


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_bad_artifact_is_refused_before_anything_is_written(tmp_path, capsys):
    """A failed run must leave no config.json behind: it would refuse the corrected rerun."""
    tampered = fake_artifact(tmp_path / "tampered.onnx")
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    assert evaluate_artifact(tmp_path, tampered) == 2
    assert "tampered.onnx: sha256" in one_line(capsys)
    no_manifest = fake_artifact(tmp_path / "alone.onnx")
    manifest_path(no_manifest).unlink()
    assert evaluate_artifact(tmp_path, no_manifest) == 2
    assert "manifest alone.onnx.manifest.json is missing" in one_line(capsys)
    other = fake_artifact(tmp_path / "other.onnx", entry="x3d_xs")
    assert evaluate_artifact(tmp_path, other) == 2
    assert "was exported from x3d_xs, not i3d_tiny_8x4_demo" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "val.txt").write_text("a.mp4 0\n")
    assert zoo_main(["evaluate", DEMO, "--checkpoint", str(tmp_path / "none.pth"), "--annotations",
                     str(tmp_path / "val.txt"), "--video-root", str(tmp_path), "--out", str(tmp_path / "out"),
                     "--device", "cpu", "--quiet"]) == 2
    assert f"checkpoint not found: {tmp_path / 'none.pth'}" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_missing_artifact_reads_the_same_in_evaluate_and_predict(tmp_path, capsys):
    missing = tmp_path / "none.onnx"
    assert evaluate_artifact(tmp_path, missing) == 2
    assert one_line(capsys) == f"zoo evaluate: {missing}: no such file\n"
    assert zoo_main(["predict", "clip.mp4", "--artifact", str(missing), "--quiet"]) == 2
    assert one_line(capsys) == f"zoo predict: {missing}: no such file\n"
    assert not (tmp_path / "out").exists()


def test_a_broken_manifest_is_named_with_what_is_wrong(tmp_path, capsys):
    truncated = fake_artifact(tmp_path / "truncated.onnx")
    manifest_path(truncated).write_text(manifest_path(truncated).read_text()[:12])
    with pytest.raises(ArtifactError, match=r"truncated.onnx.manifest.json: not valid JSON \(line 2"):
        read_manifest(truncated)
    assert zoo_main(["predict", "clip.mp4", "--artifact", str(truncated), "--quiet"]) == 2
    assert "truncated.onnx.manifest.json: not valid JSON" in one_line(capsys)

    lacking = fake_artifact(tmp_path / "lacking.onnx")
    manifest = json.loads(manifest_path(lacking).read_text())
    del manifest["output_activation"], manifest["batch"]
    manifest_path(lacking).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="lacking.onnx.manifest.json: lacks the field.s. batch, output_activation"):
        read_manifest(lacking)
    assert zoo_main(["predict", "clip.mp4", "--artifact", str(lacking), "--quiet"]) == 2
    assert "lacks the field(s) batch, output_activation" in one_line(capsys)
    assert evaluate_artifact(tmp_path, lacking) == 2
    assert "lacks the field(s) batch, output_activation" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_and_device_with_an_artifact_are_refused_up_front(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "val.txt").write_text("a.mp4 0\n")
    assert zoo_main(["evaluate", DEMO, "--pretrained", "--device", "cuda", "--annotations", str(tmp_path / "val.txt"),
                     "--video-root", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    no_gpu = "--device cuda: torch finds no CUDA device here (torch.cuda.is_available() is False)"
    assert no_gpu in one_line(capsys)
    assert not (tmp_path / "out").exists()
    assert zoo_main(["predict", "clip.mp4", "--model", DEMO, "--device", "cuda", "--quiet"]) == 2
    assert no_gpu in one_line(capsys)
    # an exported file runs on its runtime's CPU: --device is refused, as --fast and --dtype are
    artifact = fake_artifact(tmp_path / "m.onnx")
    assert zoo_main(["predict", "clip.mp4", "--artifact", str(artifact), "--device", "cuda", "--quiet"]) == 2
    assert "--device does not apply with --artifact" in one_line(capsys)
    assert evaluate_artifact(tmp_path, artifact, "--device", "cuda:0") == 2
    assert "--device does not apply with --artifact" in one_line(capsys)
    assert zoo_main(["predict", "clip.mp4", "--model", DEMO, "--device", "gpu", "--quiet"]) == 2
    assert "--device gpu: not a torch device" in one_line(capsys)


def test_without_device_an_artifact_runs_on_the_cpu_even_with_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    common = ["evaluate", DEMO, "--annotations", "val.txt", "--video-root", "."]
    parse = build_parser().parse_args
    assert RunConfig.from_args(parse([*common, "--artifact", "m.onnx"])).device == "cpu"
    assert RunConfig.from_args(parse([*common, "--pretrained"])).device == "cuda"


def test_the_default_folder_names_the_artifact_or_checkpoint_measured():
    def folder(weights, **data):
        return RunConfig(DEMO, weights=weights, data=DataFiles("val.txt", **data)).out_dir(DEMO).as_posix()

    assert folder(Weights(pretrained=True)) == f"runs/evaluate/{DEMO}_5x3"  # as before
    assert folder(Weights()) == f"runs/evaluate/{DEMO}_5x3"
    assert folder(Weights(artifact="exports/demo.onnx")) == f"runs/evaluate/{DEMO}_5x3_exports_demo.onnx"
    assert folder(Weights(artifact="demo.pte")) == f"runs/evaluate/{DEMO}_5x3_demo.pte"
    assert folder(Weights(checkpoint="runs/mine/model.pyth")) == f"runs/evaluate/{DEMO}_5x3_mine_model"
    assert folder(Weights(checkpoint="runs/mine/model.pyth"), dataset="folders") == \
        f"runs/evaluate/{DEMO}_5x3_folders_mine_model"
    assert folder(Weights(checkpoint="hf://someone/repo/best.pt")) == f"runs/evaluate/{DEMO}_5x3_repo_best"
    assert RunConfig(DEMO, weights=Weights(checkpoint="x.pt")).out_dir(DEMO, ava=True).as_posix() == \
        f"runs/evaluate/{DEMO}_ava_x"


def test_a_folder_named_by_the_artifacts_file_name_alone_is_still_resumed(tmp_path, monkeypatch):
    # the default folder named an artifact by its file name before it added the file's folder
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "demo.onnx").write_bytes(b"a file")
    weights = Weights(artifact="exports/demo.onnx")
    earlier = tmp_path / "runs" / "evaluate" / f"{DEMO}_5x3_demo.onnx"
    earlier.mkdir(parents=True)
    (earlier / "config.json").write_text(json.dumps({"weights": weights.record()}))
    config = RunConfig(DEMO, weights=weights, data=DataFiles("val.txt"))
    assert config.out_dir(DEMO).as_posix() == f"runs/evaluate/{DEMO}_5x3_demo.onnx"
    (tmp_path / "exports" / "demo.onnx").write_bytes(b"another file")  # not the file measured there
    assert config.out_dir(DEMO).as_posix() == f"runs/evaluate/{DEMO}_5x3_exports_demo.onnx"


def test_the_published_figures_are_set_beside_a_model_of_the_entrys_classes_only(tmp_path):
    """x3d_xs has 400 classes: a model of 4 (a fine-tuned one) is not what its figures measure."""
    from benchmarks.evaluate import summary_line

    data = read_path_label_list(write_colour_dataset(tmp_path / "videos", [(0, 0), (1, 1)]), tmp_path / "videos")
    entry = dataclasses.replace(zoo.get_entry("x3d_xs"), side_size=32, crop_size=32)  # cheap views
    lines = []
    four = evaluate(entry, data, tmp_path / "four", model_factory=colour_model, views="1x1", progress=False,
                    log=lines.append)
    full = evaluate(entry, data, tmp_path / "full", model_factory=lambda e: ColourModel(e, num_classes=400),
                    views="1x1", progress=False, log=lines.append)
    assert four["published"] == {} and "published" not in lines[0] and "top1 100.00, top5 100.00 over 2/2" in lines[0]
    assert sorted(full["published"]) == ["top1", "top5"] and "top1 100.00 (published" in lines[1]
    # zoo merge, offline, tells the same from the scores
    assert "published" not in summary_line(merge_results(tmp_path / "four"))
    assert "(published" in summary_line(merge_results(tmp_path / "full"))
