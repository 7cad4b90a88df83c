"""zoo finetune: a short fine-tune on tiny generated videos lowers the loss, resumes after a kill
to the same weights, and leaves a checkpoint the zoo and the harness load."""

import dataclasses
import json

import pytest
import torch

import zoo
from benchmarks.cli import main as zoo_main
from benchmarks.transfer.finetune import CLASSES_FILE, LOSS, MANIFEST, MODEL_FILE, TRAIN_STATE, FinetuneConfig, finetune
from tests.videos import write_demo_class_folders
from zoo.checkpoints import read_state_dict

DEMO = "i3d_tiny_8x4_demo"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """root/<class>/<video>.mp4: two of the demo's motions, 6 videos each (5 train, 1 held out)."""
    return write_demo_class_folders(tmp_path_factory.mktemp("clips"))


def config(folders, out, **kw):
    base = dict(entry=DEMO, dataset="folders", train=str(folders), out=str(out), epochs=2, batch_size=5,
                optimizer="adamw", lr=0.01, workers=0, evaluate=False, warmup_epochs=0.5)
    return FinetuneConfig(**{**base, **kw})


def test_finetune_lowers_the_loss_and_resumes_to_the_same_weights(folders, tmp_path):
    whole = finetune(config(folders, tmp_path / "whole"), progress=False, log=None)
    losses = [e["loss"] for e in whole["history"]]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    assert [e["clips"] for e in whole["history"]] == [10, 10]

    class Killed(Exception):
        pass

    def kill(epoch, step):
        if epoch == 1 and step == 0:  # one step into the second epoch
            raise Killed

    with pytest.raises(Killed):
        finetune(config(folders, tmp_path / "resumed"), progress=False, log=None, on_step=kill)
    saved = torch.load(tmp_path / "resumed" / TRAIN_STATE, weights_only=True)
    assert saved["epoch"] == 1 and not (tmp_path / "resumed" / MODEL_FILE).exists()
    assert saved["train_clip"]["crop_size"] == 32 and saved["loss"] == LOSS
    # a state written before head_epochs existed resumes as head_epochs 0; one written before the
    # training clip and loss were recorded resumes saying what its remaining epochs train on
    del saved["hyper_parameters"]["head_epochs"], saved["train_clip"], saved["loss"]
    # and one from before --weight-decay-rule decayed everything: refused under the new default,
    # saying how to resume it (for the demo model both rules make the same groups)
    del saved["hyper_parameters"]["weight_decay_rule"]
    torch.save(saved, tmp_path / "resumed" / TRAIN_STATE)
    with pytest.raises(ValueError, match="weight_decay_rule: 'all' before, 'reference' now.*add --weight-decay-rule all"):
        finetune(config(folders, tmp_path / "resumed"), progress=False, log=None)
    messages = []
    resumed = finetune(config(folders, tmp_path / "resumed", weight_decay_rule="all"), progress=False, log=messages.append)
    assert any("resuming" in m and "after epoch 1" in m for m in messages)
    assert any("did not record its training clip" in m and "32-pixel crops" in m for m in messages)
    assert [e["loss"] for e in resumed["history"]] == losses  # epoch 1 kept from the file, epoch 2 redone
    a = read_state_dict(tmp_path / "whole" / MODEL_FILE)
    b = read_state_dict(tmp_path / "resumed" / MODEL_FILE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # another run's hyper-parameters are refused, not mixed in
    with pytest.raises(ValueError, match="another fine-tuning .*lr: 0.01 before, 0.5 now"):
        finetune(config(folders, tmp_path / "resumed", lr=0.5), progress=False, log=None)
    # and so are epochs trained on other clips (a catalogue that changed the entry's training crop)
    saved = torch.load(tmp_path / "whole" / TRAIN_STATE, weights_only=True)
    saved["train_clip"]["crop_size"] = 40
    torch.save(saved, tmp_path / "whole" / TRAIN_STATE)
    with pytest.raises(ValueError, match="trained otherwise .crop_size: 40 before, 32 now"):
        finetune(config(folders, tmp_path / "whole"), progress=False, log=None)


def test_linear_mode_trains_only_the_head(folders, tmp_path):
    manifest = finetune(config(folders, tmp_path / "linear", mode="linear", epochs=1), progress=False,
                        log=None)
    published = read_state_dict(zoo.get_entry(DEMO).url)
    tuned = read_state_dict(tmp_path / "linear" / MODEL_FILE)
    head = "blocks.6.proj."
    assert all(torch.equal(tuned[k], published[k]) for k in published if not k.startswith(head))
    assert tuned[head + "weight"].shape == (2, published[head + "weight"].shape[1])
    assert manifest["mode"] == "linear"


def test_a_softmax_head_trains_on_its_logits_and_validates_on_its_scores(folders, tmp_path, monkeypatch):
    """X3D's head ends in softmax in every mode: the steps (linear mode: the model in eval mode)
    see the head's logits, as PySlowFast trains it, and the per-epoch validation its probabilities;
    the saved model is the entry's, softmax included."""
    from benchmarks.transfer import finetune as ft

    outputs = []  # (a training step's forward, the rows are probabilities)
    build = ft.build_model

    def recording(config, num_classes):
        model = build(config, num_classes)
        model.blocks[-1].register_forward_hook(lambda _m, _a, out: outputs.append(
            (torch.is_grad_enabled(), bool(torch.allclose(out.detach().sum(-1), torch.ones(len(out)), atol=1e-4)))))
        return model

    monkeypatch.setattr(ft, "build_model", recording)
    finetune(config(folders, tmp_path / "x3d", entry="x3d_xs", weights="none", mode="linear", epochs=1, crop_size=32),
             progress=False, log=None)
    steps = [probabilities for training, probabilities in outputs if training]
    validation = [probabilities for training, probabilities in outputs if not training]
    assert len(steps) == 2 and not any(steps)
    assert validation and all(validation)
    model = zoo.create_model("x3d_xs", checkpoint=str(tmp_path / "x3d" / MODEL_FILE))
    assert type(model.blocks[-1].activation) is torch.nn.Softmax


def test_head_epochs_train_the_head_alone_first_and_resume_across_the_phase_change(folders, tmp_path):
    """LP-FT: in the head-only epochs no backbone weight or BatchNorm statistic moves; after them
    the backbone trains; a run killed in either phase resumes to the uninterrupted run's weights."""
    lpft = dict(mode="full", epochs=3, head_epochs=2, epoch_val_views=None)
    whole = finetune(config(folders, tmp_path / "whole", **lpft), progress=False, log=None)
    assert [e["trained"] for e in whole["history"]] == ["head", "head", "all"]
    assert whole["hyper_parameters"]["head_epochs"] == 2
    published = read_state_dict(zoo.get_entry(DEMO).url)
    head = "blocks.6.proj."
    backbone = [k for k in published if not k.startswith(head)]
    assert any(k.endswith("running_mean") for k in backbone)  # BatchNorm statistics are among them

    class Killed(Exception):
        pass

    def kill_at(at):
        def hook(epoch, step):
            if (epoch, step) == at:
                raise Killed
        return hook

    out, heads = tmp_path / "resumed", []
    for at, finished in [((1, 0), 1), ((2, 0), 2)]:  # one step into the 2nd head-only epoch, then the 1st full one
        with pytest.raises(Killed):
            finetune(config(folders, out, **lpft), progress=False, log=None, on_step=kill_at(at))
        saved = torch.load(out / TRAIN_STATE, weights_only=True)
        assert saved["epoch"] == finished
        state = saved["model_state"]
        assert all(torch.equal(state[k], published[k]) for k in backbone), f"the backbone moved in epoch {finished}"
        heads.append(state[head + "weight"])
    assert not torch.equal(*heads)  # the head trains meanwhile
    resumed = finetune(config(folders, out, **lpft), progress=False, log=None)
    assert [e["loss"] for e in resumed["history"]] == [e["loss"] for e in whole["history"]]
    a, b = read_state_dict(tmp_path / "whole" / MODEL_FILE), read_state_dict(out / MODEL_FILE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    moved = [k for k in backbone if not torch.equal(a[k], published[k])]
    assert any(k.endswith("weight") for k in moved) and any(k.endswith("running_mean") for k in moved)
    with pytest.raises(ValueError, match="fewer than the 3 epochs"):
        config(folders, out, mode="full", epochs=3, head_epochs=3)
    with pytest.raises(ValueError, match="--head-epochs is for --mode full"):
        config(folders, out, mode="linear", head_epochs=1)


def test_cli_output_loads_in_the_zoo_and_the_harness(folders, tmp_path):
    out = tmp_path / "cli"
    code = zoo_main(["finetune", DEMO, "--dataset", "folders", "--train", str(folders), "--out", str(out),
                     "--epochs", "1", "--batch-size", "5", "--workers", "0", "--val-views", "2x1", "--quiet",
                     "--results", str(tmp_path / "results")])
    assert code == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["classes"] == ["moving_left", "moving_right"] == (out / CLASSES_FILE).read_text().split()
    assert manifest["data"]["train_videos"] == 10 and manifest["data"]["val_videos"] == 2
    assert {"torch", "av", "videozoo"} <= set(manifest["versions"]) and manifest["hyper_parameters"]["lr"] == 0.01
    assert manifest["val"]["videos"] == 2 and manifest["val"]["views"] == "2x1"
    model = zoo.create_model(DEMO, checkpoint=str(out / MODEL_FILE))
    assert model(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 2)
    # the harness measures the checkpoint from the command line with the written lists
    code = zoo_main(["evaluate", DEMO, "--checkpoint", str(out / MODEL_FILE), "--annotations", str(out / "val.txt"),
                     "--video-root", "/", "--classes", str(out / CLASSES_FILE), "--views", "2x1", "--workers", "0",
                     "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["videos"] == 2 and metrics["metrics"]["top1"] == manifest["val"]["top1"]


def test_workers_kept_alive_across_epochs_make_the_same_run(folders, tmp_path):
    """Decoding workers live from one epoch to the next (the epoch travels with each index):
    2 workers give the weights 0 workers give (at the same model threads: by default a run with
    workers leaves them CPUs, and a different thread count sums in another order)."""
    runs = [finetune(config(folders, tmp_path / f"w{w}", workers=w, threads=1, epoch_val_views=None), progress=False,
                     log=None) for w in (0, 2)]
    assert [e["loss"] for e in runs[0]["history"]] == [e["loss"] for e in runs[1]["history"]]
    a, b = (read_state_dict(tmp_path / f"w{w}" / MODEL_FILE) for w in (0, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cached_features_probe_takes_the_hand_computed_step_and_resumes(folders, tmp_path):
    """--cached-features: each training video is embedded once into the run folder (as `zoo
    features` writes it), and an epoch of one full batch is one SGD step of the head on those
    embeddings, computed here from the run's initial head; no other weight moves, and a killed
    run resumes to the uninterrupted run's weights without embedding a video twice."""
    from benchmarks.transfer import finetune as ft
    from benchmarks.transfer.features import FEATURES_FILE, read_features

    probe = dict(mode="linear", cached_features=True, feature_views="1x1", optimizer="sgd", lr=0.5,
                 weight_decay=1e-3, batch_size=16, warmup_epochs=0, epoch_val_views=None)
    one = config(folders, tmp_path / "one", epochs=1, **probe)
    manifest = finetune(one, progress=False, log=None)
    assert manifest["embedding"]["views"] == "1x1" and manifest["embedding"]["train_videos"] == 10
    from benchmarks.transfer.table import manifest_row

    assert manifest_row(manifest, tmp_path / "one", "zoo finetune ...")["mode"] == "linear (cached features)"
    features = tmp_path / "one" / "features" / "train"
    lines = read_features(features / FEATURES_FILE)
    assert len(lines) == 10 and json.loads((features / "config.json").read_text())["views"] == "1x1"
    x = torch.tensor([v["embedding"] for v in lines.values()])
    y = torch.tensor([v["label"] for v in lines.values()])
    start = ft.build_model(one, 2)  # the run's initial model (seeded head)
    w = start.blocks[6].proj.weight.detach().clone().requires_grad_()
    b = start.blocks[6].proj.bias.detach().clone().requires_grad_()
    torch.nn.functional.cross_entropy(x @ w.T + b, y).backward()
    with torch.no_grad():  # SGD's first step: momentum buffer = gradient + weight decay x weight
        expected_w = w - 0.5 * (w.grad + 1e-3 * w)
        expected_b = b - 0.5 * (b.grad + 1e-3 * b)
    tuned = read_state_dict(tmp_path / "one" / MODEL_FILE)
    torch.testing.assert_close(tuned["blocks.6.proj.weight"], expected_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tuned["blocks.6.proj.bias"], expected_b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(expected_w, w)
    published = read_state_dict(zoo.get_entry(DEMO).url)
    assert all(torch.equal(tuned[k], published[k]) for k in published if not k.startswith("blocks.6.proj."))

    class Killed(Exception):
        pass

    def kill(epoch, step):
        if epoch == 1:
            raise Killed

    whole = finetune(config(folders, tmp_path / "whole", epochs=3, **probe), progress=False, log=None)
    with pytest.raises(Killed):
        finetune(config(folders, tmp_path / "resumed", epochs=3, **probe), progress=False, log=None, on_step=kill)
    resumed = finetune(config(folders, tmp_path / "resumed", epochs=3, **probe), progress=False, log=None)
    assert [e["loss"] for e in resumed["history"]] == [e["loss"] for e in whole["history"]]
    a, c = read_state_dict(tmp_path / "whole" / MODEL_FILE), read_state_dict(tmp_path / "resumed" / MODEL_FILE)
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert len((tmp_path / "resumed" / "features" / "train" / FEATURES_FILE).read_text().splitlines()) == 10
    # no weight depends on the per-epoch validation's views: a resume may change them (a folder each)
    for views in ("1x1", "2x1"):
        finetune(dataclasses.replace(one, epoch_val_views=views), progress=False, log=None)
        assert len(read_features(tmp_path / "one" / "features" / f"val_{views}" / FEATURES_FILE)) == 2
    # embeddings record the backbone they came from: a run killed after embedding and restarted
    # with other weights is refused instead of training on the first model's embeddings
    (tmp_path / "one" / TRAIN_STATE).unlink()
    with pytest.raises(ValueError, match="made with the weights 'published', and this run starts from 'none .random init, seed 0.'"):
        finetune(dataclasses.replace(one, weights="none"), progress=False, log=None)
    # a folder from before the weights were recorded is taken as the run's, and its record completed
    record = features / "config.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "weights": "given model"}))
    finetune(one, progress=False, log=None)
    assert json.loads(record.read_text())["weights"] == "published"
    assert len(read_features(features / FEATURES_FILE)) == 10
    with pytest.raises(ValueError, match="--cached-features is for --mode linear"):
        config(folders, tmp_path / "full", mode="full", cached_features=True)


def test_an_ava_detector_is_refused_before_any_data_is_read(tmp_path, capsys):
    """An AVA entry's forward needs person boxes: the run stops at once, naming what to use instead."""
    args = ["finetune", "slow_r50_4x16_ava", "--dataset", "folders", "--train", str(tmp_path / "missing"),
            "--out", str(tmp_path / "out"), "--results", "none", "--quiet"]
    assert zoo_main(args) == 2
    err = capsys.readouterr().err
    assert "AVA detector" in err and "slow_r50_4x16_kinetics400" in err


def test_weight_decay_spares_what_each_entrys_trainer_spares():
    """The reference rule: PySlowFast's construct_optimizer (BatchNorm's parameters at
    BN.WEIGHT_DECAY 0; for MViT, SOLVER.ZERO_WD_1D_PARAM, every bias and 1-D parameter too),
    Video Swin's custom_keys (norm, relative_position_bias_table) and torchvision's recipe
    (everything decayed); an SGD step on zero gradients then shrinks exactly the decayed
    parameters by lr x weight decay."""
    from benchmarks.transfer.finetune import decay_groups, make_optimizer, param_groups

    def spared(name, **kw):
        model = zoo.create_model(name, num_classes=3)
        groups = param_groups(model, FinetuneConfig(name, "folders", "clips/", **kw))
        assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
        ids = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
        return model, {n for n, p in model.named_parameters() if id(p) in ids}

    x3d, names = spared("x3d_xs_4x12_kinetics400")
    bn = {f"{m}.{n}" for m, mod in x3d.named_modules() if isinstance(mod, torch.nn.BatchNorm3d) for n, _ in mod.named_parameters()}
    assert names == bn and len(bn) > 100
    cfg = FinetuneConfig("x3d_xs", "folders", "clips/", weight_decay=0.5, lr=0.1, backbone_lr_scale=1.0)
    assert len(decay_groups(x3d, list(x3d.parameters()), dataclasses.replace(cfg, weight_decay_rule="all"))) == 1
    before = {n: p.detach().clone() for n, p in x3d.named_parameters()}
    optimizer = make_optimizer(param_groups(x3d, cfg), cfg)
    for p in x3d.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # SGD's first step: buffer = 0 + 0.5 x p, p -= 0.1 x buffer
    for name, p in x3d.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] if name in bn else before[name] * (1 - 0.1 * 0.5), msg=name)

    # PySlowFast's MViT: exactly its `len(p.shape) == 1 or name.endswith(".bias")`; tokens and
    # positional embeddings decayed (MVIT.ZERO_DECAY_POS_CLS: False)
    mvit, names = spared("mvit_b_16x4_kinetics400")
    assert names == {n for n, p in mvit.named_parameters() if p.ndim == 1 or n.endswith(".bias")} and len(names) > 100
    assert not any("pos_embed" in n or "cls_token" in n for n in names)
    # torchvision's port of it holds the class token and position as 1-D: decayed all the same
    tv_mvit, names = spared("mvit_v1b_16x4_kinetics400")
    one_d = {n for n, p in tv_mvit.named_parameters() if p.ndim == 1}
    assert {"pos_encoding.class_token", "pos_encoding.class_pos"} <= one_d - names
    assert any(n.endswith("norm1.weight") for n in names)
    # Video Swin: norms and relative position tables; torchvision's R3D recipe: nothing spared
    swin, names = spared("swin3d_t_32x2_kinetics400")
    assert names == {n for n, _ in swin.named_parameters() if "norm" in n or "relative_position_bias_table" in n}
    assert any("relative_position_bias_table" in n for n in names) and not any(n.endswith("qkv.bias") for n in names)
    assert spared("r3d_18_16x2_kinetics400")[1] == set()
    assert spared("x3d_xs_4x12_kinetics400", weight_decay_rule="all")[1] == set()
    with pytest.raises(ValueError, match="weight_decay_rule"):
        FinetuneConfig("x3d_xs", "folders", "clips/", weight_decay_rule="none")


def test_unreadable_training_videos_are_named_and_left_out(folders, tmp_path):
    """A missing or empty training video is left out by name (on screen and in a file); the rest train."""
    from benchmarks.datasets import read_transfer_split
    from benchmarks.transfer.finetune import UNREADABLE_FILE, readable_training_set

    train = read_transfer_split("folders", str(folders), subset="train")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"")
    bad = [dataclasses.replace(train.records[0], key="broken", path=str(broken)),
           dataclasses.replace(train.records[1], key="gone", path=str(tmp_path / "gone.mp4"))]
    said = []
    kept = readable_training_set(dataclasses.replace(train, records=train.records + bad), "clips/", tmp_path, said.append)
    assert kept.records == train.records
    assert (tmp_path / UNREADABLE_FILE).read_text().splitlines() == [
        f"{broken}\tzero-length file", f"{tmp_path / 'gone.mp4'}\tmissing file"]
    assert said == [f"2 of {len(train) + 2} training videos cannot be read and are left out, e.g. {broken}: "
                    f"zero-length file (all in {tmp_path / UNREADABLE_FILE})"]
    assert readable_training_set(train, "clips/", tmp_path, said.append) is train  # nothing to leave out
    assert not (tmp_path / UNREADABLE_FILE).exists()  # and the earlier list, now wrong, is gone


def test_a_class_without_a_readable_training_video_is_refused(folders, tmp_path, capsys):
    root = tmp_path / "clips"
    (root / "good").mkdir(parents=True)
    (root / "junk").mkdir()
    for i, video in enumerate(sorted((folders / "moving_left").iterdir())[:3]):
        (root / "good" / f"{i}.mp4").write_bytes(video.read_bytes())
        (root / "junk" / f"{i}.mp4").write_bytes(b"not a video")
    args = ["finetune", DEMO, "--dataset", "folders", "--train", str(root), "--out", str(tmp_path / "out"),
            "--results", "none", "--quiet", "--workers", "0"]
    assert zoo_main(args) == 2
    err = capsys.readouterr().err
    assert f"{root}: no readable training video of 'junk' (" in err and "unreadable (InvalidDataError" in err


def test_ucf101_needs_its_test_list_and_video_root(tmp_path, capsys):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Archery\n")
    (lists / "trainlist01.txt").write_text("Archery/v_Archery_g08_c02.avi 1\n")
    base = ["finetune", DEMO, "--dataset", "ucf101", "--train", str(lists / "trainlist01.txt"),
            "--out", str(tmp_path / "out"), "--results", "none", "--quiet"]
    assert zoo_main(base + ["--video-root", str(tmp_path)]) == 2
    assert "ucf101: --val testlist0N.txt is required" in capsys.readouterr().err
    assert zoo_main(base + ["--val", str(lists / "trainlist01.txt")]) == 2
    assert "ucf101: --video-root is required" in capsys.readouterr().err
    assert zoo_main([*base[:5], str(lists), *base[6:], "--val", str(lists), "--video-root", str(tmp_path)]) == 2
    assert f"ucf101: {lists} is a folder; give the split list file" in capsys.readouterr().err
    assert not (tmp_path / "out" / MODEL_FILE).exists()
