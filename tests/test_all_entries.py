"""Every published entry builds through torch.hub (local checkout) with the published params."""

import math
from pathlib import Path

import pytest
import torch

import zoo
from tests.test_registry import SEED_NAMES

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(n for names in SEED_NAMES.values() for n in names)


@pytest.mark.parametrize("name", PUBLISHED)
def test_hub_load_builds_entry_with_published_params(name):
    entry = zoo.get_entry(name)
    model = torch.hub.load(str(ROOT), name, source="local", pretrained=False, verbose=False)
    assert not model.training
    count = sum(p.numel() for p in model.parameters())
    if "params_file" in entry.extra:
        # The table's figure cannot be produced by the module tree the published file holds:
        # the catalogue records the file's exact count and says why.
        assert count == entry.extra["params_file"]
        assert "Params" in entry.note
    else:
        # The table prints millions to 2 decimals, mostly rounded, on some rows truncated.
        assert entry.params_m in (round(count / 1e6, 2), math.floor(count / 1e4) / 100), entry.note
