"""One job over many processes (torchrun ranks): deterministic shards, one result file per rank, exact merge.

Generic over what a *record* is (a video, an AVA keyframe, ...): records are identified by a
unique ``key``; results are JSON lines carrying that key. Nothing here knows about models.

Launch detection: a process started by ``torchrun`` (or ``python -m torch.distributed.run``,
or Slurm with torchrun) has ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in its environment;
:func:`join` then initialises ``torch.distributed`` (``nccl`` when the device is a GPU, else
``gloo``; device ``cuda:LOCAL_RANK``). All coordination (plans, statuses, results) goes
through a separate ``gloo`` group on the CPU with a long timeout, because ranks legitimately
wait hours for each other at the end of a long evaluation. Without those variables (or with
``WORLD_SIZE=1``) everything below runs in-process, with no collective at all.

Files in the results folder (``base`` is e.g. ``scores.jsonl``):

- the single-process file is ``base`` itself; rank ``K`` of ``W`` writes
  ``scores.rank-K-of-W.jsonl`` (:func:`shard_file_name`). No two processes ever write one
  file, so the folder is safe on a shared file system (NFS, Lustre, GPFS); every summary
  file (``metrics.json``, the merged failures) is written by rank 0 alone with an atomic
  rename (:mod:`benchmarks.runtime.files`).
- resuming reads **every** result file of the folder (:func:`read_results`), whatever world
  size wrote it, so a run may resume with another number of ranks; a record found in two
  files counts once (the first file in :func:`result_files` order wins).
- the merge at the end leaves the one file ``base``: :func:`consolidate_results` writes every
  record once, in the job's order, then deletes the rank files (kill-safe at every step).

The protocol of a sharded job (every rank makes the same collective calls, in this order,
whatever fails, so an error on one rank never leaves the others waiting):

1. :func:`plan` -- rank 0 reads all result files (repairing a line cut short by a kill),
   lists the unfinished records, splits them with :func:`assign` (largest first onto the
   least loaded rank, by file size) and broadcasts the split;
2. :meth:`Ranks.in_waves` -- e.g. build the model: local rank 0 of each node first (it
   fills the checkpoint cache), then the others; a failure anywhere stops every rank;
3. :meth:`Ranks.agree` -- each rank works through its share, appending to its own file; a
   barrier (rank 0 keeps the progress bar moving meanwhile, :class:`ShardProgress`), then
   the statuses are compared;
4. :meth:`Ranks.gather` the per-rank statistics, and :meth:`Ranks.on_main`: rank 0 merges
   every file into the final result (and the one result file) and hands it to all ranks.

Example (one process; the same calls under torchrun shard the work):
    >>> import tempfile, json
    >>> ranks = join(distributed=False)
    >>> out = tempfile.mkdtemp()
    >>> p = plan(ranks, out, ["a", "b", "c"], results="scores.jsonl")
    >>> p.mine, p.todo
    ([0, 1, 2], 3)
    >>> assign([5.0, 1.0, 4.0, 2.0], 2)
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

import atexit
import datetime
import heapq
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.runtime.files import atomic_path

#: How long a rank waits for the others at a collective (seconds); ranks can finish their
#: shares hours apart on a long evaluation. ``VIDEOZOO_DIST_TIMEOUT_S`` overrides it.
DEFAULT_TIMEOUT_S = 24 * 3600


class ShardError(RuntimeError):
    """Another rank failed; the message names it and its error."""


# --------------------------------------------------------------------------- ranks


@dataclass
class Ranks:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    group: object = field(default=None, repr=False)  # the gloo group used for coordination

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def file_name(self, base: str) -> str:
        """This rank's own result file for ``base`` (``base`` itself in a single process)."""
        return shard_file_name(base, self.rank, self.world_size) if self.distributed else base

    def device(self, requested: str = "cpu") -> str:
        """The device of this rank: a GPU request means ``cuda:LOCAL_RANK`` under torchrun."""
        if self.distributed and str(requested).startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return str(requested)

    # ----------------------------------------------------------------------- collectives

    def on_main(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on rank 0 only and hand its value (picklable) or its error to every rank."""
        if not self.distributed:
            return fn()
        import torch.distributed as dist

        value, error, failure = None, None, None
        if self.is_main:
            try:
                value = fn()
            except Exception as err:  # reported to every rank below, then raised here
                error, failure = err, _describe(err)
        box = [(value, failure)]
        dist.broadcast_object_list(box, src=0, group=self.group)
        if error is not None:
            raise error
        value, failure = box[0]
        if failure:
            raise ShardError(f"rank 0 failed: {failure}")
        return value

    def agree(self, fn: Callable[[], object], *, waiting: Callable[[], None] | None = None) -> object:
        """Run ``fn`` on every rank, wait for all, and fail everywhere if it failed anywhere.

        Returns this rank's value (never sent anywhere). ``waiting`` is called about every
        0.2 s while this rank waits for the others (rank 0 moves its progress bar with it).
        """
        value, error = None, None
        try:
            value = fn()
        except Exception as err:
            error = err
        if not self.distributed:
            if error is not None:
                raise error
            return value
        import torch.distributed as dist

        work = dist.barrier(group=self.group, async_op=True)
        while waiting is not None and not work.is_completed():
            waiting()
            time.sleep(0.2)
        work.wait()
        statuses = [None] * self.world_size
        dist.all_gather_object(statuses, _describe(error) if error is not None else None, group=self.group)
        if error is not None:
            raise error
        failed = [f"rank {r}: {s}" for r, s in enumerate(statuses) if s]
        if failed:
            raise ShardError("; ".join(failed))
        return value

    def in_waves(self, fn: Callable[[], object]) -> object:
        """``fn`` on every rank, local rank 0 of each node first (e.g. it downloads, the others read the cache)."""
        first = self.local_rank == 0
        box: list = [None]

        def wave(mine: bool):
            if mine:
                box[0] = fn()

        self.agree(lambda: wave(first))
        self.agree(lambda: wave(not first))
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        values = [None] * self.world_size
        dist.all_gather_object(values, value, group=self.group)
        return values


def _describe(err: BaseException) -> str:
    return f"{err.__class__.__name__}: {err}"


def launched_by_torchrun(environ=None) -> bool:
    """Whether this process is one of several ranks (``WORLD_SIZE`` > 1 and ``RANK`` set)."""
    env = os.environ if environ is None else environ
    return "RANK" in env and int(env.get("WORLD_SIZE", "1")) > 1


_JOINED: Ranks | None = None


def join(distributed: bool | None = None, device: str = "cpu") -> Ranks:
    """This process's :class:`Ranks`, initialising ``torch.distributed`` on first use.

    ``distributed``: ``None`` detects torchrun from the environment; ``False`` forces one
    process; ``True`` requires a torchrun environment. A process group the caller already
    initialised is reused (and left to the caller to destroy).
    """
    global _JOINED
    if distributed is False:
        return Ranks()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if not launched_by_torchrun():
            if distributed:
                raise ValueError("distributed evaluation needs torchrun's environment (WORLD_SIZE, RANK, "
                                 "LOCAL_RANK, MASTER_ADDR); start it with torchrun --nproc-per-node N -m benchmarks.cli ...")
            return Ranks()
        _JOINED = None
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        gpu = str(device).startswith("cuda") and torch.cuda.is_available()
        if gpu:
            torch.cuda.set_device(local_rank)  # before NCCL starts, so each rank owns its GPU
        dist.init_process_group("nccl" if gpu else "gloo", timeout=_timeout())
        atexit.register(_leave)
    if _JOINED is None or _JOINED.world_size != dist.get_world_size():
        if dist.get_world_size() == 1:
            return Ranks()
        backend = dist.get_backend()
        # Coordination on the CPU, whatever the device: objects, barriers, long waits.
        group = dist.group.WORLD if backend == "gloo" else dist.new_group(backend="gloo", timeout=_timeout())
        _JOINED = Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), group)
    return _JOINED


def _timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(os.environ.get("VIDEOZOO_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)))


def _leave() -> None:
    import gc

    import torch.distributed as dist

    # Drop this module's own reference to the process group first: while anything holds it,
    # destroy_process_group leaves gloo's worker threads running into the interpreter's
    # finalisation, where releasing their work's tensors takes the GIL and aborts the process
    # ("terminate called without an active exception": a rank that finished first, in CI).
    global _JOINED
    _JOINED = None
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main_process(environ=None) -> bool:
    """Rank 0, or not launched by torchrun (no process group needed to ask)."""
    env = os.environ if environ is None else environ
    return int(env.get("RANK", "0")) == 0


# --------------------------------------------------------------------------- result files


def shard_file_name(base: str, rank: int, world_size: int) -> str:
    """``scores.jsonl`` -> ``scores.rank-3-of-8.jsonl``: rank 3's own file in an 8-rank run."""
    stem, dot, suffix = base.partition(".")
    return f"{stem}.rank-{rank}-of-{world_size}{dot}{suffix}"


def _shard_pattern(base: str) -> re.Pattern:
    stem, dot, suffix = base.partition(".")
    return re.compile(rf"^{re.escape(stem)}\.rank-(\d+)-of-(\d+){re.escape(dot + suffix)}$")


def result_files(out_dir, base: str) -> list[Path]:
    """Every existing result file for ``base`` in ``out_dir``: ``base`` first, then the rank
    files by world size and rank. This order decides which copy of a duplicated key wins."""
    out_dir = Path(out_dir)
    pattern = _shard_pattern(base)
    shards = []
    if out_dir.is_dir():
        for entry in os.scandir(out_dir):
            match = pattern.match(entry.name)
            if match and int(match[1]) < int(match[2]):
                shards.append(((int(match[2]), int(match[1])), Path(entry.path)))
    single = out_dir / base
    return ([single] if single.exists() else []) + [path for _, path in sorted(shards)]


def read_keyed_lines(path, key: str = "key", repair: bool = True) -> dict[str, dict]:
    """The JSON lines of one result file: ``key`` value -> its record (first occurrence wins).

    A last line cut short by a kill (no final newline) is dropped, and with ``repair`` the
    file is truncated back to its last complete line so appends stay clean. A bad line
    elsewhere is an error naming the file and line.
    """
    done: dict[str, dict] = {}
    for k, record, _ in _keyed_lines(path, key, repair):
        done.setdefault(k, record)
    return done


def _keyed_lines(path, key: str, repair: bool) -> Iterator[tuple[str, dict, bytes]]:
    """``(key, record, the line's bytes with its newline)`` for each complete line of ``path``
    (see :func:`read_keyed_lines` for a cut last line and ``repair``)."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    *complete, partial = data.split(b"\n")  # ``partial``: text after the last newline
    for number, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number}: not a JSON line; the results file is damaged") from None
        yield record[key], record, raw + b"\n"
    good_end = len(data) - len(partial)
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)


def read_results(out_dir, base: str, key: str = "key", repair: bool = False) -> dict[str, dict]:
    """Every record of every result file for ``base`` in ``out_dir`` (:func:`result_files`
    order; a key in two files counts once, from the first)."""
    merged: dict[str, dict] = {}
    for path in result_files(out_dir, base):
        for k, record in read_keyed_lines(path, key, repair=repair).items():
            merged.setdefault(k, record)
    return merged


def consolidate_results(out_dir, base: str, keys: Sequence[str], key: str = "key") -> dict[str, dict]:
    """Make ``base`` in ``out_dir`` the one result file: every record of every result file for
    ``base`` (:func:`result_files`, any world size), once each, in the order of ``keys``.

    A record in two files is taken from the first, as :func:`read_results` takes it; a line
    cut short by a kill is dropped; records whose key is not in ``keys`` follow in file order
    (kept, never lost). Lines are copied byte for byte. Kill-safe at every step: the new
    ``base`` is written beside the old one, synced to disk and renamed over it, and only then
    are the rank files deleted; a run or merge that finds both reads every file and takes
    each record once, then repeats this step. A lone ``base`` already in that order is left
    as it is. Returns the records, key -> record, in the file's order.

    Example (rank files of a 2-rank run, one record cut short by a kill):
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (out / "scores.rank-0-of-2.jsonl").write_text('{"key": "b", "v": 1}\\n{"key": "c", "v"')
        >>> _ = (out / "scores.rank-1-of-2.jsonl").write_text('{"key": "a", "v": 2}\\n')
        >>> list(consolidate_results(out, "scores.jsonl", ["a", "b", "c"]))
        ['a', 'b']
        >>> [p.name for p in result_files(out, "scores.jsonl")], (out / "scores.jsonl").read_text()
        (['scores.jsonl'], '{"key": "a", "v": 2}\\n{"key": "b", "v": 1}\\n')
    """
    out_dir = Path(out_dir)
    target = out_dir / base
    files = result_files(out_dir, base)
    lines: dict[str, tuple[dict, bytes]] = {}
    in_base: list[str] = []  # the keys of ``base``'s lines, in its order, repeats included
    for path in files:
        for k, record, raw in _keyed_lines(path, key, repair=False):
            if path == target:
                in_base.append(k)
            lines.setdefault(k, (record, raw))
    wanted = set(keys)
    order = [k for k in keys if k in lines] + [k for k in lines if k not in wanted]
    whole = target.exists() and target.stat().st_size == sum(len(raw) for _, raw in lines.values())
    if files != [target] or in_base != order or not whole:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.writelines(lines[k][1] for k in order)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rank files go
        for path in files:
            if path != target:
                path.unlink(missing_ok=True)
    return {k: lines[k][0] for k in order}


def remove_result_files(out_dir, base: str) -> None:
    """Delete every result file for ``base`` (e.g. last run's failure lists, before a new run)."""
    for path in result_files(out_dir, base):
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- shards


def assign(weights: Sequence[float], world_size: int) -> list[list[int]]:
    """Split items ``0..n-1`` over ``world_size`` ranks, balancing the summed ``weights``.

    Greedy, largest first (ties: lower index first) onto the least loaded rank (ties: fewer
    items, then lower rank), so equal weights (e.g. unknown sizes) deal out round robin.
    Each rank's items come back in index order. Deterministic: same input, same split.
    """
    heap = [(0.0, 0, rank) for rank in range(world_size)]
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load, count, rank = heapq.heappop(heap)
        shares[rank].append(index)
        heapq.heappush(heap, (load + weights[index], count + 1, rank))
    return [sorted(share) for share in shares]


def file_size(path) -> int:
    """Bytes of a video file, or of the files directly in a frame folder; 0 if missing."""
    try:
        if os.path.isdir(path):
            return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())
        return os.path.getsize(path)
    except OSError:
        return 0


@dataclass
class ShardPlan:
    """What one rank does in this run."""

    mine: list[int]  # indices into the job's records, in record order
    todo: int  # unfinished records over all ranks
    finished: int  # records already done before this run
    offsets: dict[str, int]  # result-file sizes when the run started (for progress)


def plan(
    ranks: Ranks,
    out_dir,
    keys: Sequence[str],
    *,
    results: str,
    failures: str | None = None,
    weight: Callable[[int], float] | None = None,
    prepare: Callable[[], None] | None = None,
    read: Callable[[], Collection[str]] | None = None,
    group: Callable[[int], str] | None = None,
) -> ShardPlan:
    """Step 1 of the protocol: which unfinished records (indices into ``keys``) this rank does.

    On rank 0 only: ``prepare()`` (e.g. refuse another configuration), read every result
    file (repairing cut lines; ``read()`` instead gives the finished keys of a job whose
    result files are not JSON lines), drop last run's ``failures`` files (their records are
    retried), split the unfinished records by ``weight(index)`` (default: all equal) and
    broadcast. With ``group``, records of one group (e.g. the keyframes of one video, decoded
    once) go to one rank together, weighed by the sum of their weights.
    """
    out_dir = Path(out_dir)

    def decide():
        if prepare is not None:
            prepare()
        finished = read() if read is not None else read_results(out_dir, results, repair=True)
        if failures is not None:
            remove_result_files(out_dir, failures)
        todo = [i for i, k in enumerate(keys) if k not in finished]
        units: dict[object, list[int]] = {}  # a group's records, or each record alone
        for i in todo:
            units.setdefault(group(i) if group else i, []).append(i)
        members = list(units.values())
        weights = [sum(float(weight(i)) if weight else 0.0 for i in unit) for unit in members]
        if not ranks.distributed:
            weights = [0.0] * len(members)
        shares = [sorted(i for j in share for i in members[j]) for share in assign(weights, ranks.world_size)]
        offsets = {p.name: p.stat().st_size for p in result_files(out_dir, results)}
        return shares, len(todo), len(keys) - len(todo), offsets

    shares, todo, finished, offsets = ranks.on_main(decide)
    return ShardPlan(shares[ranks.rank], todo, finished, offsets)


def run_progress(ranks: Ranks, plan: ShardPlan, out_dir, name: str, unit: str, result_names: Sequence[str],
                 show: bool):
    """The run's progress bar (on rank 0: every rank's finished items) and ``tick(force=False)``,
    which adds the lines the other ranks have appended to ``result_names`` since the last tick.

    Example (one process):
        >>> bar, tick = run_progress(Ranks(), ShardPlan([0, 1], 2, 0, {}), ".", "x3d_xs", "video", ["scores.jsonl"],
        ...                          show=False)
        >>> tick(force=True); bar.total
        2
    """
    from tqdm import tqdm

    label = name if not ranks.distributed else f"{name} (all {ranks.world_size} ranks)"
    bar = tqdm(total=plan.todo, unit=unit, desc=label, disable=not show or not plan.todo, dynamic_ncols=True)
    others = None
    if show and plan.todo and ranks.distributed:
        others = ShardProgress(out_dir, other_rank_files(ranks, result_names), plan.offsets)

    def tick(force: bool = False) -> None:
        if others is not None:
            bar.update(others.poll(force=force))

    return bar, tick


class ShardProgress:
    """Lines the *other* ranks have appended to their result files since the run started.

    Read incrementally (only new bytes) and at most every ``interval`` seconds, so rank 0
    can show the whole run's progress without any collective call while ranks work.
    """

    def __init__(self, out_dir, names: Sequence[str], offsets: dict[str, int] | None = None, interval: float = 1.0):
        self.out_dir, self.interval = Path(out_dir), interval
        self.offsets = {name: (offsets or {}).get(name, 0) for name in names}
        self.last = 0.0

    def poll(self, force: bool = False) -> int:
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return 0
        self.last = now
        new = 0
        for name, offset in self.offsets.items():
            try:
                with open(self.out_dir / name, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1  # count whole lines only
            new += data.count(b"\n", 0, complete)
            self.offsets[name] = offset + complete
        return new


def _fs_wait_s() -> float:
    return float(os.environ.get("VIDEOZOO_SHARED_FS_WAIT_S", 90))


def wait_until(check: Callable[[], bool], timeout_s: float | None = None) -> bool:
    """Poll ``check()`` (every second) until true or ``timeout_s``: another machine's new file
    content reaches a network file system's clients when their caches expire (NFS: up to a minute)."""
    deadline = time.monotonic() + (_fs_wait_s() if timeout_s is None else timeout_s)
    while True:
        try:
            if check():
                return True
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(1.0)


def wait_visible(out_dir, expected: dict[str, int], timeout_s: float | None = None) -> None:
    """Wait until each file ``name`` in ``out_dir`` has at least ``expected[name]`` bytes.

    Another machine's writes reach a network file system's clients after their attribute
    caches expire (NFS: up to a minute), so rank 0 polls before merging; a file still missing
    then means the folder is not shared, which is an error naming the file.
    """
    timeout_s = _fs_wait_s() if timeout_s is None else timeout_s
    out_dir = Path(out_dir)

    def missing() -> list[str]:
        return [name for name, size in expected.items() if file_size(out_dir / name) < size]

    if not wait_until(lambda: not missing(), timeout_s):
        raise ShardError(
            f"{', '.join(str(out_dir / m) for m in missing())}: written by another rank but not visible here "
            f"after {timeout_s:.0f} s; --out must be a folder every machine of the job shares "
            "(or copy every rank's files into one folder and run zoo merge --out there)"
        )


def other_rank_files(ranks: Ranks, bases: Sequence[str]) -> list[str]:
    """The file names the other ranks of this run write, for :class:`ShardProgress`."""
    return [shard_file_name(base, r, ranks.world_size) for base in bases for r in range(ranks.world_size) if r != ranks.rank]
