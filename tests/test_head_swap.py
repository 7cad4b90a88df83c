"""A new head for other classes: every backbone weight of the published checkpoint is kept."""

import pytest
import torch

import zoo
from zoo.checkpoints import CheckpointMismatchError, head_layer, read_state_dict
from zoo.provenance import untrained_part

DEMO = "i3d_tiny_8x4_demo"


def test_head_swap_keeps_every_backbone_weight():
    published = read_state_dict(zoo.get_entry(DEMO).url)
    torch.manual_seed(0)
    model = zoo.create_model(DEMO, pretrained=True, num_classes=3)
    state = model.state_dict()
    head = head_layer(model)[0]
    assert head == "blocks.6.proj" and tuple(state[head + ".weight"].shape) == (3, published[head + ".weight"].shape[1])
    body = [k for k in published if not k.startswith(head + ".")]
    assert set(state) == set(published) and len(body) == len(published) - 2
    for key in body:  # weights, biases and BatchNorm statistics alike
        assert torch.equal(state[key], published[key]), key
    # the new head is a fresh one (not a slice of the old)
    assert not torch.equal(state[head + ".weight"], published[head + ".weight"][:3])
    assert model(torch.zeros(2, 3, 8, 32, 32)).shape == (2, 3)
    # the published class count is the plain published model
    same = zoo.create_model(DEMO, pretrained=True, num_classes=5).state_dict()
    assert all(torch.equal(same[k], published[k]) for k in published)


def test_a_fine_tuned_checkpoint_builds_its_own_head_size(tmp_path):
    torch.manual_seed(1)
    tuned = zoo.create_model(DEMO, pretrained=True, num_classes=3)
    path = tmp_path / "tuned.pyth"
    torch.save({"model_state": tuned.state_dict()}, path)
    loaded = zoo.create_model(DEMO, checkpoint=str(path))  # num_classes read from the head
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in tuned.state_dict().items())
    assert zoo.create_model(DEMO, checkpoint=str(path), num_classes=3).state_dict().keys() == tuned.state_dict().keys()
    # a fine-tuned file's head is not thrown away: another size than its own is refused
    with pytest.raises(CheckpointMismatchError, match="wrong shapes"):
        zoo.create_model(DEMO, checkpoint=str(path), num_classes=4)


def test_a_local_copy_of_the_published_file_starts_a_fine_tuning_like_pretrained(tmp_path):
    # a file with the entry's own head (a copy of the published one, offline): num_classes=K loads
    # every weight but the head's, as pretrained=True does, and the model says its head is new
    copy = tmp_path / "published_copy.pyth"
    copy.write_bytes(open(zoo.get_entry(DEMO).url, "rb").read())
    torch.manual_seed(3)
    swapped = zoo.create_model(DEMO, checkpoint=str(copy), num_classes=4)
    torch.manual_seed(3)
    pretrained = zoo.create_model(DEMO, pretrained=True, num_classes=4)
    assert all(torch.equal(swapped.state_dict()[k], v) for k, v in pretrained.state_dict().items())
    head = head_layer(swapped)[0]
    assert swapped.zoo_weights == f"{copy} (every weight but the head's: a new 4-class head)"
    assert untrained_part(swapped) == head
    # a checkpoint of another architecture is still refused
    x3d = tmp_path / "x3d.pyth"
    torch.save({"model_state": zoo.create_model("x3d_xs").state_dict()}, x3d)
    with pytest.raises(CheckpointMismatchError, match="does not fit"):
        zoo.create_model(DEMO, checkpoint=str(x3d), num_classes=4)
    with pytest.raises(ValueError, match="pass pretrained=True .* or checkpoint= .*, not both"):
        zoo.create_model(DEMO, pretrained=True, checkpoint=str(copy))


@pytest.mark.parametrize("name, head", [("x3d_xs", "blocks.5.proj"), ("slowfast_r50", "blocks.6.proj"),
                                        ("s3d_base_128x2_kinetics400", "classifier.1")])
def test_head_layer_of_other_families(name, head):
    model = zoo.create_model(name, num_classes=7)
    found, module = head_layer(model)
    assert found == head and (module.out_features if hasattr(module, "out_features") else module.out_channels) == 7
