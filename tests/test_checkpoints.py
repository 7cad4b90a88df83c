"""Checkpoint sources, cache, verification and safe loading."""

import functools
import hashlib
import http.server
import os
import pickle
import threading

import pytest
import torch
from torch import nn

import zoo
from zoo import checkpoints
from zoo.checkpoints import CheckpointMismatchError, ChecksumError, read_state_dict


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv1d(2, 3, 1), nn.BatchNorm1d(3)])


def _write(path, model, prefix=""):
    torch.save({"model_state": {prefix + k: v for k, v in model.state_dict().items()}}, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path):
    model = Small()
    path = tmp_path / "small.pyth"
    digest = _write(path, model)
    return model, path, digest


def _same(a, b):
    return all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_local_path_and_sha(saved):
    model, path, digest = saved
    assert _same(zoo.load_checkpoint(Small(), path, sha256=digest), model)


def test_sha256_mismatch_is_refused_naming_both_hashes(saved):
    _, path, digest = saved
    with pytest.raises(ChecksumError) as err:
        zoo.load_checkpoint(Small(), path, sha256="0" * 64)
    assert digest in str(err.value) and "0" * 64 in str(err.value)


def test_file_url_is_cached_and_works_offline(saved, torch_home, monkeypatch):
    model, path, digest = saved
    loaded = zoo.load_checkpoint(Small(), path.as_uri(), sha256=digest, progress=False)
    assert _same(loaded, model)
    cached = checkpoints.cached_path(path.as_uri())
    assert cached.is_file() and str(cached).startswith(str(torch_home))
    # offline, with the source gone: served from the cache
    os.remove(path)
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    assert _same(zoo.load_checkpoint(Small(), path.as_uri(), sha256=digest), model)


def test_a_file_url_rewritten_after_it_was_cached_is_read_again(saved, torch_home):
    # a checkpoint retrained and saved at the same path: the cached copy of the old one is not served
    _, path, _ = saved
    zoo.load_checkpoint(Small(), path.as_uri(), progress=False)
    retrained = Small()
    with torch.no_grad():
        retrained.blocks[0].weight.add_(1.0)
    _write(path, retrained)
    later = path.stat().st_mtime_ns + 10 * 10**9  # saved after the first (a retraining takes time)
    os.utime(path, ns=(later, later))
    assert _same(zoo.load_checkpoint(Small(), path.as_uri(), progress=False), retrained)


def test_offline_without_cache_says_so(tmp_path, torch_home, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"offline and https://example.invalid/model.pyth is not in the cache "
                       r".*load a local copy instead \(zoo predict/evaluate --checkpoint PATH; Python checkpoint=PATH\)"):
        checkpoints.fetch("https://example.invalid/model.pyth")


def test_a_file_torch_hub_downloaded_is_used_when_its_sha256_matches(saved, torch_home, monkeypatch):
    """PyTorchVideo's and torchvision's loaders keep a download flat in the same cache folder, by file
    name: with the checkpoint's sha256 known, that copy is used, no network; without, only named."""
    _, path, digest = saved
    flat = checkpoints.cache_dir() / "SMALL_8x8.pyth"
    flat.parent.mkdir(parents=True)
    flat.write_bytes(path.read_bytes())
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    url = "https://example.invalid/kinetics/SMALL_8x8.pyth"
    assert checkpoints.fetch(url, sha256=digest) == flat
    assert checkpoints.fetch(url, sha256=digest[:8]) == flat  # torchvision's file names carry a prefix
    with pytest.raises(FileNotFoundError, match=r"torch.hub's cache holds a file of that name, .*SMALL_8x8.pyth"):
        checkpoints.fetch(url)  # no digest: a file name proves nothing (three datasets' SLOW_8x8_R50.pyth)
    with pytest.raises(FileNotFoundError) as other:
        checkpoints.fetch(url, sha256="0" * 64)  # another file of the same name: neither used nor named
    assert "torch.hub's cache" not in str(other.value)


def test_a_failed_download_names_the_url_and_what_to_do_offline(torch_home, monkeypatch):
    """No server at the URL (a closed local port: refused at once, network or not): one error that
    names the URL, where the file would go, and the offline ways round it; nothing left in the cache."""
    import socket

    monkeypatch.delenv("VIDEOZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.pyth"
    with pytest.raises(checkpoints.DownloadError) as caught:
        checkpoints.fetch(url, progress=False)
    message = str(caught.value)
    assert message.startswith(f"could not download {url} (") and "zoo predict/evaluate --checkpoint PATH; Python checkpoint=PATH" in message
    assert str(checkpoints.cached_path(url)) in message and "VIDEOZOO_OFFLINE=1" in message
    assert isinstance(caught.value, FileNotFoundError)
    assert not [p for p in checkpoints.cache_dir().rglob("*") if p.is_file()]  # no partial download left


def test_bad_download_is_not_kept_in_cache(saved, torch_home):
    _, path, _ = saved
    with pytest.raises(ChecksumError):
        zoo.load_checkpoint(Small(), path.as_uri(), sha256="f" * 64, progress=False)
    assert not checkpoints.cached_path(path.as_uri()).exists()
    assert not list(checkpoints.cache_dir().rglob("*.partial"))


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_download_into_torch_hub_cache(http_server, torch_home, capsys):
    root, base = http_server
    model = Small()
    digest = _write(root / "remote.pyth", model)
    loaded = zoo.load_checkpoint(Small(), f"{base}/remote.pyth", sha256=digest, progress=True)
    assert _same(loaded, model)
    assert checkpoints.cached_path(f"{base}/remote.pyth").is_file()
    assert str(checkpoints.cached_path(f"{base}/remote.pyth")).startswith(str(torch_home / "hub" / "checkpoints"))
    # second load: from the cache, even with the server's copy gone
    (root / "remote.pyth").unlink()
    assert _same(zoo.load_checkpoint(Small(), f"{base}/remote.pyth", sha256=digest), model)


def test_hf_source_through_huggingface_hub_cache(tmp_path, monkeypatch):
    # A Hugging Face cache laid out as huggingface_hub writes it; offline mode reads it.
    model = Small()
    cache = tmp_path / "hf"
    snapshot = cache / "models--videozoo--mirror" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (cache / "models--videozoo--mirror" / "refs").mkdir()
    (cache / "models--videozoo--mirror" / "refs" / "main").write_text("a" * 40)
    _write(snapshot / "SMALL.pyth", model)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    assert _same(zoo.load_checkpoint(Small(), "hf://videozoo/mirror/SMALL.pyth"), model)
    # a wrong hash: refused, and the bad file is not kept in the Hugging Face cache
    with pytest.raises(ChecksumError):
        zoo.load_checkpoint(Small(), "hf://videozoo/mirror/SMALL.pyth", sha256="0" * 64)
    assert not (snapshot / "SMALL.pyth").exists()


def test_hf_source_offline_and_not_cached_fails_at_once(tmp_path, monkeypatch):
    # VIDEOZOO_OFFLINE covers hf:// too: no network retries, one error naming the source and the cache
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    with pytest.raises(checkpoints.DownloadError, match=r"offline and hf://me/mirror/SMALL.pyth is not in the Hugging Face cache"):
        checkpoints.fetch("hf://me/mirror/SMALL.pyth")


class _Exploit:
    def __init__(self, witness):
        self.witness = str(witness)

    def __reduce__(self):
        return (os.system, (f"touch {self.witness}",))


@pytest.mark.parametrize("saver", ["pickle", "torch"])
def test_pickle_that_runs_code_is_refused(tmp_path, saver):
    path, witness = tmp_path / "evil.pyth", tmp_path / "pwned"
    if saver == "pickle":
        with open(path, "wb") as fh:
            pickle.dump({"model_state": _Exploit(witness)}, fh)
    else:
        torch.save({"model_state": _Exploit(witness)}, path)
    with pytest.raises(RuntimeError, match="it is not a plain tensor checkpoint"):
        zoo.load_checkpoint(Small(), path)
    assert not witness.exists()  # the file's code never ran


def test_wrong_model_names_offending_keys(tmp_path):
    path = tmp_path / "other.pyth"
    other = nn.Module()
    other.blocks = nn.ModuleList([nn.Conv1d(2, 5, 1), nn.Linear(3, 3)])
    torch.save({"model_state": other.state_dict()}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        zoo.load_checkpoint(Small(), path)
    message = str(err.value)
    assert "blocks.0.weight: checkpoint (5, 2, 1) vs model (3, 2, 1)" in message
    assert "missing keys" in message and "blocks.1.running_mean" in message


def test_pyslowfast_prefix_layout_loads(tmp_path):
    model = Small()
    path = tmp_path / "wrapped.pyth"
    _write(path, model, prefix="model.")
    assert _same(zoo.load_checkpoint(Small(), path), model)


def test_mismatch_in_prefixed_file_names_layout_and_real_keys(tmp_path):
    other = Small()
    other.blocks[0] = nn.Conv1d(2, 4, 1)
    path = tmp_path / "wrapped_bad.pyth"
    torch.save({"model_state": {"model." + k: v for k, v in other.state_dict().items()}}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        zoo.load_checkpoint(Small(), path)
    assert "'model.'" in str(err.value) and "blocks.0.weight: checkpoint (4, 2, 1)" in str(err.value)


def test_same_file_name_from_two_sources_is_not_confused(tmp_path, torch_home):
    # SSv2, Charades and Kinetics all publish a SLOW_8x8_R50.pyth
    first, second = Small(), Small()
    (tmp_path / "kinetics").mkdir()
    (tmp_path / "ssv2").mkdir()
    _write(tmp_path / "kinetics" / "w.pyth", first)
    _write(tmp_path / "ssv2" / "w.pyth", second)
    assert _same(zoo.load_checkpoint(Small(), (tmp_path / "kinetics" / "w.pyth").as_uri()), first)
    assert _same(zoo.load_checkpoint(Small(), (tmp_path / "ssv2" / "w.pyth").as_uri()), second)
    assert not _same(first, second)


def test_a_folder_as_the_checkpoint_takes_its_one_checkpoint_file(tmp_path):
    # a zoo finetune run folder (model.pyth beside classes.txt) or a Hugging Face-style folder
    model = Small()
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "model.pyth", model)
    (run / "classes.txt").write_text("a\nb\n")
    torch.save({"model": "a training state"}, run / "train_state.pt")  # zoo finetune keeps it beside model.pyth
    assert _same(zoo.load_checkpoint(Small(), run), model)
    other = tmp_path / "other"
    other.mkdir()
    _write(other / "epoch_1.pyth", model)
    _write(other / "epoch_2.pyth", model)
    with pytest.raises(FileNotFoundError, match=r"is a folder of 2 checkpoint files \(epoch_1.pyth, epoch_2.pyth\)"):
        zoo.load_checkpoint(Small(), other)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is a folder with no checkpoint file"):
        zoo.load_checkpoint(Small(), tmp_path / "empty")


def test_another_architectures_file_is_named_as_such(tmp_path):
    torch.save({"model_state": zoo.create_model("x3d_xs").state_dict()}, tmp_path / "x3d.pyth")
    with pytest.raises(CheckpointMismatchError, match=r"only 9 of the model's 104 weights are in it with their shape: "
                                                      "a checkpoint of another architecture or entry\\?"):
        zoo.create_model("i3d_tiny_8x4_demo", checkpoint=tmp_path / "x3d.pyth")
    small = Small()  # one mis-shaped weight of a file of this model: not called another architecture
    state = {**small.state_dict(), "blocks.0.bias": torch.zeros(4)}
    torch.save({"model_state": state}, tmp_path / "damaged.pyth")
    with pytest.raises(CheckpointMismatchError) as err:
        zoo.load_checkpoint(Small(), tmp_path / "damaged.pyth")
    assert "another architecture" not in str(err.value) and "wrong shapes (1)" in str(err.value)


@pytest.mark.parametrize("write, says", [
    (lambda p: torch.save(torch.nn.Linear(2, 2), p), r"it pickles torch.nn.modules.linear.Linear \(a whole model, or Python objects beside the weights\); save model.state_dict\(\) alone instead"),
    (lambda p: p.write_bytes(_saved_bytes()[:-300]), r"truncated or corrupt \(\d+ bytes; "),
    (lambda p: p.write_bytes(_saved_bytes()[:900]), r"truncated or corrupt \(900 bytes; "),
    (lambda p: p.write_text("these are not weights"), r"not a PyTorch checkpoint file \("),
    (lambda p: torch.save({"epoch": 3, "net": {"w": torch.zeros(1)}}, p),
     r"does not hold a state dict: its values are not tensors \(top-level keys: epoch, net;"),
])
def test_a_file_that_is_no_checkpoint_says_why_in_one_line(tmp_path, write, says):
    path = tmp_path / "weights.pt"
    write(path)
    with pytest.raises(RuntimeError, match=says) as caught:
        read_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert "weights_only` set to `False`" not in message  # torch's advice to run the file's code


def _saved_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1000)}, buffer)
    return buffer.getvalue()
