"""``zoo finetune --mode linear --cached-features``: the linear probe on embeddings made once.

Linear mode trains the head alone on a frozen backbone, so every epoch of the usual loop runs
the backbone again on every training clip, only for the head to see it. Here each training
video is embedded once instead (:func:`benchmarks.transfer.features.extract_features`: the head's input,
pooled over positions and over ``feature_views``, by default the entry's test views, the same
numbers ``zoo features`` writes), and the epochs train the head on those embeddings: the
model's own classifier layer (:func:`zoo.checkpoints.head_layer`) applied to them as the
linear map it is, so the run's checkpoint, manifest and final multi-view measurement are the
usual ones. The embeddings are kept in the run folder (``features/train``, and
``features/val_<views>`` for the per-epoch validation), resumable like ``zoo features``; a
resumed run reads them back and ends with the same weights. The folders record the run's
starting weights (the backbone stays those throughout), so a resume with other ``--weights``
(or, from scratch, another ``--seed``) is refused before it mixes two models' embeddings.

What differs from the clip loop: no training augmentation (an embedding is the average of fixed
views, so what the head learns from it is what the harness's multi-view protocol shows it at
test time, for a head whose output is linear in its input), no dropout (linear mode runs the
model in eval mode anyway), and the per-epoch validation top-1 scores the validation videos'
embeddings (``epoch_val_views``, one view by default) with the head: with one view and a
head of one position, the same argmax as the model's. The batches, their order (drawn from
``(seed, epoch)``), the optimizer and the schedule are the loop's.

On the demo transfer task (``results/finetune.md``, diagonals with 8 training videos per class,
150 held out; 40 epochs, AdamW): 85.33, 85.33 and 86.00 top-1 at seeds 0-2, a few seconds a
run with the embeddings made once, where the clip loop's linear probe reached 83.33-87.33 (and
the full fine-tune 84.00-85.33) in minutes: there the head sees one augmented clip of each
video per epoch, here the average of the entry's 15 test views, the quantity the harness then
scores. (On an earlier rendering of the task, 8 training and 20 held-out videos per class, the
cached probe reached 86.67 where the clip loop's reached 73.33-76.67: the rows above them.)

Example:
    >>> import torch
    >>> layer = torch.nn.Conv3d(4, 2, 1)  # a 1x1x1 classifier (torchvision's S3D): a linear map
    >>> x = torch.randn(3, 4)
    >>> bool(torch.allclose(classify(layer, x), layer(x[:, :, None, None, None]).flatten(1), atol=1e-6))
    True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

FEATURES_DIR = "features"
#: What a run's embedding folders recorded of the weights before they named them.
UNNAMED_WEIGHTS = "given model"


def classify(layer: nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    """The logits a classifier layer (``nn.Linear`` or a 1x1x1 ``nn.Conv3d``) gives ``(N, D)`` embeddings."""
    return F.linear(embeddings, layer.weight.flatten(1), layer.bias)


def adopt_embeddings(folder, weights: str) -> None:
    """Check that the embeddings in ``folder`` (a run's ``features/...``) came from ``weights``,
    the run's starting weights. A folder written before they were recorded (``"given model"``)
    is taken as this run's and its record completed: the run's train state, checked first
    (:func:`benchmarks.transfer.finetune.finetune`), fixes the weights of any run that finished an epoch.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text('{"weights": "published"}')
        >>> adopt_embeddings(folder, "none (random init, seed 0)")
        Traceback (most recent call last):
        ...
        ValueError: ... holds embeddings made with the weights 'published', and this run starts from 'none (random init, seed 0)': rerun with the --weights (and --seed) of the run that made them, or use another --out
    """
    from benchmarks.run_config import CONFIG_FILE
    from benchmarks.runtime.files import write_json_atomic

    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return
    job = json.loads(path.read_text())
    if job.get("weights") == UNNAMED_WEIGHTS:
        write_json_atomic(path, {**job, "weights": weights})
    elif job.get("weights") != weights:
        raise ValueError(f"{folder} holds embeddings made with the weights {job.get('weights')!r}, and this run starts "
                         f"from {weights!r}: rerun with the --weights (and --seed) of the run that made them, "
                         "or use another --out")


def embedded(entry_name: str, dataset, out_dir, model: nn.Module, model_weights: str, views: str | None, *,
             workers: int, device: str, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(embeddings (N, D), labels (N,))`` of ``dataset``'s readable videos, in its record order,
    made by :func:`benchmarks.transfer.features.extract_features` into ``out_dir`` (or read back from it;
    ``model_weights`` names the model's weights there)."""
    from benchmarks.transfer.features import extract_features

    adopt_embeddings(out_dir, model_weights)
    done = extract_features(entry_name, dataset, out_dir, model=model, model_weights=model_weights, views=views,
                            workers=workers, device=device, progress=progress)
    kept = [r for r in dataset.records if r.key in done]
    if not kept:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return (torch.tensor([done[r.key] for r in kept], dtype=torch.float32),
            torch.tensor([r.label for r in kept], dtype=torch.long))


@dataclass
class CachedProbe:
    """A run's embeddings and what an epoch of the probe needs (:func:`benchmarks.transfer.finetune.run_finetune`)."""

    train: tuple[torch.Tensor, torch.Tensor]
    train_views: str
    val: tuple[torch.Tensor, torch.Tensor] | None
    val_views: str | None
    batch_size: int

    @classmethod
    def prepare(cls, config, model: nn.Module, train_ds, val_ds, out, *, device, progress: bool) -> CachedProbe:
        """Embed (or read back) the training videos, and the validation ones when the run
        validates each epoch (``config.epoch_val_views``), with the model in eval mode."""
        import zoo
        from zoo.transforms import InputSpec

        entry = config.entry
        model.eval()
        features = Path(out) / FEATURES_DIR
        # the embeddings are the backbone's, which is the run's starting one throughout (frozen)
        weights = config.weights if config.weights != "none" else f"none (random init, seed {config.seed})"
        train = embedded(entry, train_ds, features / "train", model, weights, config.feature_views,
                         workers=config.workers, device=device, progress=progress)
        if not len(train[1]):
            raise ValueError(f"no training video could be read (see {features / 'train' / 'failures.jsonl'})")
        val, val_views = None, None
        if config.epoch_val_views and val_ds.records:
            val_views = InputSpec.from_entry(zoo.get_entry(entry), config.epoch_val_views).views_label
            # a folder per views: a resume may validate with other --epoch-val-views (no weight depends on them)
            val = embedded(entry, val_ds, features / f"val_{val_views}", model, weights,
                           config.epoch_val_views, workers=config.workers, device=device, progress=progress)
        train_views = InputSpec.from_entry(zoo.get_entry(entry), config.feature_views).views_label
        return cls(train, train_views, val, val_views, config.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train[1]) / self.batch_size)

    def epoch(self, layer: nn.Module, optimizer, batches: list[list[int]], set_lr, stepped) -> tuple[list[float], int]:
        """One epoch: a step per batch of embedding indices (``set_lr(step)`` before it,
        ``stepped(step, loss)`` after); returns the batches' losses and the embeddings seen."""
        device = layer.weight.device
        x, y = self.train[0].to(device), self.train[1].to(device)
        losses, seen = [], 0
        for step, batch in enumerate(batches):
            set_lr(step)
            index = torch.tensor(batch, dtype=torch.long, device=device)
            loss = F.cross_entropy(classify(layer, x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            seen += len(batch)
            stepped(step, losses[-1])
        return losses, seen

    @torch.no_grad()
    def val_top1(self, layer: nn.Module) -> float | None:
        """Top-1 (%) of the head on the validation embeddings; None without them."""
        if self.val is None or not len(self.val[1]):
            return None
        x, y = (t.to(layer.weight.device) for t in self.val)
        return 100.0 * float((classify(layer, x).argmax(-1) == y).double().mean())
