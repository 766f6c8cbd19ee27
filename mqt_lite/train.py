"""Training: one loop for notebooks (`train(cfg)`) and the command line, single device or torchrun DDP.

    python -m mqt_lite.train --preset tiny-synthetic --out runs/tiny [--key=value ...]
    python -m mqt_lite.train --preset hrnet18-nyud --data nyud --data-root /data/NYUD_MT --out runs/nyud
    torchrun --nproc_per_node=4 -m mqt_lite.train --preset swin-s-pascal --data-root /data/PASCAL_MT --out runs/p
    python -m mqt_lite.train --resume runs/tiny          # continues exactly where it stopped

Recipe of the paper presets (Sec. IV-A): SGD momentum 0.9, lr 1e-3, weight decay 5e-4, poly schedule, 40k
iterations, batch 8 (per process under torchrun), random scale 0.5-2.0, crop, flip. Iteration-based: the data
order is a function of (seed, epoch) and each sample's augmentation of (seed, epoch, index), so a resumed run
sees exactly the batches the uninterrupted run would have seen (and on CPU ends with the same weights).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import atomic_write, load_train_state, load_weights, read_card, save_checkpoint, unwrap
from .cli import add_debug_flag, user_errors
from .config import MQTConfig, get_config, parse_overrides
from .data import MultiTaskDataset, load_split
from .evaluate import evaluate, headline, val_loader
from .losses import MultiTaskLoss
from .model import build_model
from .precision import autocast, autocast_dtype, grad_scaler
from .tasks import DATASET_TASKS

HISTORY = "history.jsonl"


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """cuda > mps > cpu for "auto"; otherwise the named device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def init_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); starts the process group when launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))


def train_dataset(cfg: MQTConfig) -> MultiTaskDataset:
    """The training split of a config's dataset, with the random joint transforms."""
    return MultiTaskDataset(load_split(cfg, "train"), cfg.tasks, size=cfg.image_size, train=True, seed=cfg.seed)


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's sample order in an epoch: a permutation fixed by (seed, epoch), sharded across ranks."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    return order[rank::world]


def make_optimizer(cfg: MQTConfig, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
    """SGD or AdamW with linear warm-up then poly decay: lr * (1 - step / iterations) ** poly_power.

    The fused implementation (one kernel for all parameters) where the device has one: 3.5x faster than the
    per-parameter loop on CPU; same update up to float rounding."""
    params: Any = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if params and params[0].device.type in _fused_devices() else {}
    if cfg.head_lr_scale != 1.0:  # two groups: the backbone at lr, everything else at lr * head_lr_scale
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        backbone = [p for n, p in named if ".backbone." in f".{n}"]
        rest = [p for n, p in named if ".backbone." not in f".{n}"]
        params = [{"params": backbone}, {"params": rest, "lr": cfg.lr * cfg.head_lr_scale}]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / cfg.warmup_iters) if cfg.warmup_iters else 1.0
        return warm * max(0.0, 1 - step / cfg.iterations) ** cfg.poly_power

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


class TrainingSetup(NamedTuple):
    model: nn.Module
    criterion: MultiTaskLoss
    opt: torch.optim.Optimizer
    sched: Any
    scaler: torch.amp.GradScaler
    dtype: torch.dtype | None  # autocast dtype of the step (None: fp32)


def training_setup(cfg: MQTConfig, device: torch.device) -> TrainingSetup:
    """What `train_step` needs, built the one way `train()` and `bench train` share: the model channels-last on
    the device (its convolutions run 1.03-1.08x faster, more with bf16), loss, optimizer, schedule, and the
    precision's autocast dtype and GradScaler (active for fp16 only)."""
    model = build_model(cfg).to(device, memory_format=torch.channels_last)
    opt, sched = make_optimizer(cfg, model)
    dtype = autocast_dtype(cfg.precision, device)
    return TrainingSetup(model, MultiTaskLoss(cfg.tasks, edge_pos_weight=cfg.edge_weight,
                                              depth_ssi_weight=cfg.depth_ssi_weight), opt, sched,
                         grad_scaler(device, dtype), dtype)


def match_state_layouts(opt: torch.optim.Optimizer) -> None:
    """Give every per-parameter optimizer state tensor its parameter's memory layout. A loaded state comes back
    contiguous while the model is channels-last, and a fused optimizer walks parameter, gradient and state as flat
    memory: with different layouts it would pair the wrong elements (a resumed run would silently diverge)."""
    for p, state in opt.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _fused_devices() -> list[str]:
    try:  # without it the optimizers run unfused (correct, a little slower)
        from torch.optim.optimizer import _get_fused_kernels_supported_devices  # private in torch: may go away
        return _get_fused_kernels_supported_devices()
    except ImportError:
        return []


class NonFiniteLoss(FloatingPointError):
    """The loss of some task is NaN or infinite (the step was not taken)."""

    def __init__(self, tasks: list[str]) -> None:
        super().__init__(f"loss of task {', '.join(tasks)} is not finite")
        self.tasks = tasks


def train_step(model: nn.Module, criterion: nn.Module, batch: dict[str, torch.Tensor],
               opt: torch.optim.Optimizer, sched: Any, scaler: torch.amp.GradScaler, dtype: torch.dtype | None,
               grad_clip: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimisation step on a batch already on the device: forward under autocast, loss in fp32, backward,
    clip, step. The one step of `train()` and of `python -m mqt_lite.bench train`. Returns (total, {task: loss})."""
    device = batch["image"].device
    with autocast(device, dtype):
        outputs = model(batch["image"])
    total, losses = criterion({t: o.float() for t, o in outputs.items()}, batch)
    bad = [t for t, v in losses.items() if not torch.isfinite(v)]
    if bad or not torch.isfinite(total):
        raise NonFiniteLoss(bad or ["total"])
    opt.zero_grad(set_to_none=True)
    scaler.scale(total).backward()  # the scaler is a no-op unless fp16
    if grad_clip > 0:
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
    sched.step()
    return total, losses


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Batch to the device (asynchronously from pinned memory); images channels-last, as the model runs."""
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    return out


def read_history(file: Path) -> list[dict[str, Any]]:
    """The records of a history.jsonl; a torn last line (a crash while appending) is dropped with a warning."""
    lines = [ln for ln in file.read_text().splitlines() if ln.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i < len(lines) - 1:
                raise ValueError(f"{file}, line {i + 1} is not JSON ({e}); fix or delete that line") from None
            warnings.warn(f"{file}: dropped a torn last line (a crash while it was written): {line[:80]!r}",
                          stacklevel=2)
    return records


class History:
    """Records in memory and, on rank 0 with an output folder, in DIR/history.jsonl (+ TensorBoard if installed)."""

    def __init__(self, out: Path | None, resume_step: int | None, enabled: bool) -> None:
        self.records: list[dict[str, Any]] = []
        self.file = out / HISTORY if out is not None and enabled else None
        self.tb = None
        if self.file is None:
            return
        if resume_step is not None and self.file.exists():  # drop what was logged after the checkpoint
            self.records = [r for r in read_history(self.file) if r["step"] <= resume_step]
        text = "".join(json.dumps(r) + "\n" for r in self.records)
        atomic_write(self.file, lambda p: Path(p).write_text(text))
        try:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard: optional

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:  # TensorBoard is optional
            pass

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.file is not None:
            with self.file.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, record["step"])


@dataclass
class Run:
    """A training run in progress: what `train` and its helpers share."""

    cfg: MQTConfig
    out: Path | None  # checkpoints and history (None: nothing on disk)
    rank: int
    world: int
    device: torch.device
    setup: TrainingSetup  # its model wrapped in DistributedDataParallel under torchrun
    data: MultiTaskDataset
    val: torch.utils.data.DataLoader
    steps_per_epoch: int
    history: History
    step: int = 0
    last_good: int | None = None  # step of the last checkpoint written or resumed from
    metrics: dict[str, float] | None = None  # headline metrics of the latest evaluation
    running: dict[str, float] = field(default_factory=dict)  # loss sums since the last training record
    t0: float = 0.0  # time.time() when the loop started


def train(cfg: MQTConfig | str, out: str | Path | None = None, resume: bool = False,
          callback: Callable[[dict[str, Any]], None] | None = None, progress: bool = True,
          **overrides: Any) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train a model; returns (model, history records).

    Args:
        cfg: a config or preset name; `overrides` replace its fields.
        out: folder for checkpoints and history (None: keep nothing on disk).
        resume: continue from the checkpoint in `out` (its config is used; overrides are not allowed).
        callback: called with every history record (loss records and evaluation records), e.g. to plot live.
        progress: show a tqdm progress bar.
    """
    run = start_run(cfg, out, resume, overrides)
    bar = tqdm(total=run.cfg.iterations, initial=run.step, desc=run.cfg.name, disable=not progress or run.rank != 0)
    run.t0 = time.time()
    try:
        while run.step < run.cfg.iterations:
            for batch in epoch_loader(run):
                take_step(run, batch)
                bar.update(1)
                after_step(run, bar, callback)
                if run.step >= run.cfg.iterations:
                    break
    except KeyboardInterrupt:
        save(run)  # keep what was learned; `--resume` continues from here
        bar.close()
        raise
    bar.close()
    # channels-last, as `load_checkpoint` gives it back: the same kernels, so bit-identical predictions
    return unwrap(run.setup.model), run.history.records


def start_run(cfg: MQTConfig | str, out: str | Path | None, resume: bool, overrides: dict[str, Any]) -> Run:
    """The config, device, seeded model and optimizer (resumed from `out` if asked), data and history of a run."""
    out = Path(out) if out is not None else None
    card = read_card(out) if resume and out is not None else None
    if resume and card is None:
        raise ValueError("resume=True needs out=, the folder of the run to continue")
    cfg = MQTConfig.from_card(card["config"]) if card else get_config(cfg, **overrides)
    rank, world, local_rank = init_distributed()
    device = resolve_device(cfg.device, local_rank)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    setup = training_setup(cfg, device)
    step = resume_from(out, setup) if card is not None else 0
    if world > 1:
        setup = setup._replace(model=distribute(setup.model, device))
    data = train_dataset(cfg)
    val = val_loader(cfg, rank=rank, world=world)
    steps_per_epoch = len(data) // (cfg.batch_size * world)
    if steps_per_epoch < 1:
        raise ValueError(f"{len(data)} training images are fewer than one batch of {cfg.batch_size} x {world}")
    history = History(out, step if card else None, enabled=rank == 0)
    return Run(cfg, out, rank, world, device, setup, data, val, steps_per_epoch, history, step=step,
               last_good=step if card else None, metrics=card["metrics"] if card else None)


def resume_from(out: Path, setup: TrainingSetup) -> int:
    """Load a checkpoint's weights and training state (optimizer, schedule, scaler, RNG) into `setup`; its step."""
    load_weights(setup.model, out)
    state = load_train_state(out)  # no pickle; checked to be of the card's step
    setup.opt.load_state_dict(state["optimizer"])
    match_state_layouts(setup.opt)
    setup.sched.load_state_dict(state["scheduler"])
    setup.scaler.load_state_dict(state.get("scaler") or setup.scaler.state_dict())  # states saved before fp16 had none
    torch.set_rng_state(state["rng"])
    return state["step"]


def distribute(model: nn.Module, device: torch.device) -> nn.Module:
    """The model wrapped for DistributedDataParallel training (BatchNorm synchronised across GPUs)."""
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def epoch_loader(run: Run) -> torch.utils.data.DataLoader:
    """The batches left in the current epoch, in the order fixed by (seed, epoch): a resumed run continues it."""
    cfg = run.cfg
    epoch, offset = divmod(run.step, run.steps_per_epoch)
    run.data.set_epoch(epoch)
    order = epoch_order(len(run.data), cfg.seed, epoch, run.rank, run.world)  # equal length on every rank:
    order = order[:run.steps_per_epoch * cfg.batch_size][offset * cfg.batch_size:]  # DDP steps in lockstep
    return torch.utils.data.DataLoader(
        run.data, batch_size=cfg.batch_size, sampler=order, drop_last=True, num_workers=cfg.num_workers,
        pin_memory=run.device.type == "cuda", persistent_workers=False)


def take_step(run: Run, batch: dict[str, torch.Tensor]) -> None:
    """One optimisation step; its losses join the running sums of the next training record."""
    s = run.setup
    try:
        total, losses = train_step(s.model, s.criterion, to_device(batch, run.device), s.opt, s.sched, s.scaler,
                                   s.dtype, run.cfg.grad_clip)
    except NonFiniteLoss as e:
        where = f"; the last good checkpoint (step {run.last_good}) is in {run.out}" if run.last_good is not None \
            else "; no checkpoint was written yet"
        raise FloatingPointError(f"{e} at step {run.step}: training stopped{where}. "
                                 "Try a lower lr or grad_clip.") from None
    run.step += 1
    for t, v in losses.items():
        run.running[t] = run.running.get(t, 0.0) + v.item()
    run.running["loss"] = run.running.get("loss", 0.0) + total.item()


def after_step(run: Run, bar: tqdm, callback: Callable[[dict[str, Any]], None] | None) -> None:
    """Log the losses, evaluate and checkpoint when they are due, and always after the last step."""
    cfg, step = run.cfg, run.step
    last = step == cfg.iterations
    if step % cfg.log_every == 0 or last:
        record = loss_record(run)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        log(run, record, callback)
    if step % cfg.eval_every == 0 or last:
        results = evaluate(run.setup.model, run.val, run.device)
        log(run, {"step": step, "split": "val", **{f"{t}/{k}": v for t, r in results.items() for k, v in r.items()}},
            callback)
        run.metrics = headline(results)
    if step % cfg.checkpoint_every == 0 or last:
        save(run)


def loss_record(run: Run) -> dict[str, Any]:
    """The training record of the steps since the last one (mean losses, learning rate, time); resets the sums."""
    cfg, step = run.cfg, run.step
    n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
    record = {"step": step, "split": "train", "lr": run.setup.sched.get_last_lr()[0],
              **{k: v / n for k, v in run.running.items()}, "time_s": time.time() - run.t0}
    run.running = {}
    return record


def log(run: Run, record: dict[str, Any], callback: Callable[[dict[str, Any]], None] | None) -> None:
    """A record into the history (and its file), then to the callback."""
    run.history.log(record)
    if callback:
        callback(record)


def save(run: Run) -> None:
    """Checkpoint weights, metrics and training state into `out` (rank 0; nothing without `out`)."""
    if run.out is None or run.rank != 0:
        return
    s = run.setup
    state = {"optimizer": s.opt.state_dict(), "scheduler": s.sched.state_dict(), "scaler": s.scaler.state_dict(),
             "rng": torch.get_rng_state(), "step": run.step}
    save_checkpoint(run.out, s.model, run.step, run.metrics, state, world_size=run.world)
    run.last_good = run.step


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mqt_lite.train", description=__doc__.split("\n")[0],
                                epilog="Any config field can be overridden: --lr=0.01 --num_queries=8 --tasks=semseg,depth")
    p.add_argument("--preset", default="tiny-synthetic", help="a name in mqt_lite.PRESETS")
    p.add_argument("--out", help="folder for checkpoints and history")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly where it stopped")
    p.add_argument("--data", choices=list(DATASET_TASKS), help="dataset (default: the preset's)")
    p.add_argument("--data-root", help="folder of NYUD_MT or PASCAL_MT")
    p.add_argument("--no-progress", action="store_true")
    add_debug_flag(p)
    args, rest = p.parse_known_args(argv)
    try:
        overrides = parse_overrides(rest)
        if args.data:
            overrides["dataset"] = args.data
        if args.data_root:
            overrides["data_root"] = args.data_root
        get_config(args.preset, **overrides)  # bad preset or value: a usage error, not a traceback
    except ValueError as e:
        p.error(str(e))
    if args.resume:
        if overrides:
            p.error(f"--resume continues a run with its own config; drop the overrides {sorted(overrides)}")
        args.out = args.resume
    if not args.out:
        p.error("--out DIR is required (checkpoints and history go there)")
    try:
        with user_errors(p.prog, args.debug):
            model, history = train(args.preset, args.out, resume=bool(args.resume), progress=not args.no_progress,
                                   **overrides)
    except KeyboardInterrupt:
        print(f"\ninterrupted; checkpoint saved. Continue with: python -m mqt_lite.train --resume {args.out}",
              file=sys.stderr)
        return 130
    if dist.is_initialized():
        dist.destroy_process_group()
    evals = [r for r in history if r["split"] == "val"]
    if evals and int(os.environ.get("RANK", "0")) == 0:
        print(f"final validation metrics (step {evals[-1]['step']}), checkpoint in {args.out}:")
        print(json.dumps({k: v for k, v in evals[-1].items() if k not in ("step", "split")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
