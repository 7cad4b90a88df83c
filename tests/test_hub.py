"""torch.hub entry points of a local checkout."""

from pathlib import Path

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import randomize_norm_stats, write_published_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_hub_lists_every_name_and_alias():
    # torch.hub.list only knows GitHub repos; read the local hubconf the way hub.load does
    hubconf = torch.hub._import_module("hubconf", str(ROOT / "hubconf.py"))
    entrypoints = {n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_")}
    assert hubconf.dependencies
    assert set(zoo.list_models()) | set(zoo.aliases()) <= entrypoints


@pytest.mark.parametrize("name", ["slow_r50_4x16_kinetics400", "c2d_r50"])
def test_hub_load_builds_the_entry(name):
    model = torch.hub.load(str(ROOT), name, source="local", pretrained=False)
    expected = zoo.create_model(name)
    assert type(model) is type(expected) and list(model.state_dict()) == list(expected.state_dict())
    assert not model.training


@requires_pytorchvideo
def test_hub_load_pretrained_downloads_published_file(tmp_path, torch_home, monkeypatch):
    """pretrained=True fetches the entry's URL into the hub cache (a file:// stand-in here)."""
    from pytorchvideo.models import hub

    reference = randomize_norm_stats(hub.i3d_r50()).eval()
    path = tmp_path / "I3D_8x8_R50.pyth"
    write_published_checkpoint(reference, path)
    entry = zoo.get_entry("i3d_r50")
    import dataclasses
    import zoo.registry as registry

    patched = dataclasses.replace(entry, url=path.as_uri())
    monkeypatch.setitem(registry._entries(), entry.name, patched)
    model = torch.hub.load(str(ROOT), "i3d_r50", source="local", pretrained=True, progress=False)
    x = torch.randn(1, 3, 8, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-4)
    assert list((torch_home / "hub" / "checkpoints").rglob("I3D_8x8_R50.pyth"))
