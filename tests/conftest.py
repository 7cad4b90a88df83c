import importlib.util

import pytest
import torch


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


HAS_PYTORCHVIDEO = _has("pytorchvideo")
requires_pytorchvideo = pytest.mark.skipif(not HAS_PYTORCHVIDEO, reason="pytorchvideo (reference oracle) not installed")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache for the test."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
