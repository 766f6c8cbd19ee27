"""Configuration: one dataclass for model + recipe, named presets, and `--key=value` overrides.

Presets follow the paper's Sec. IV-A: NYUD-v2 (semseg/depth/normals/edge at 448x576) and PASCAL-Context
(semseg/parts/sal/normals/edge at 512x512) with HRNet-18 and Swin backbones (Tab. II, III, IV d), SGD with
lr 1e-3, weight decay 5e-4, 40k iterations at batch 8, from an ImageNet-pretrained backbone (`pretrained=True`:
timm downloads the weights once; offline, building such a preset fails with a message naming `pretrained=False`).
`tiny-synthetic` is our own CPU-sized model for the procedural world (all six tasks), trained from scratch.

Departures from the paper, each a field you can flip:
- `dim` (head width C) is not given in the paper. 128 for HRNet-18 reproduces the paper's head parameter
  increase over the multi-task baseline (0.71 M, Tab. II), 256 does the same for Swin-T/S (2.85 M).
- `learn_queries=False` follows the text ("uniformly initialized and not further optimized"); the official
  code trains them. The learned query positional encodings still give every query slot a trained offset.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .precision import check_precision
from .tasks import DATASET_TASKS, EDGE_POS_WEIGHT, TASKS

HEADS = ("mqt", "multi-task", "single-task")
SYNTHETIC_WORLDS = ("classic", "rich")  # mqt_lite.data.synthetic (flat-shaded solids) and data/rich.py
SCALE_FUSIONS = ("gated", "add")  # how coarse scales return to the finest (mqt.py's docstring)
QUERY_INITS = ("uniform", "trunc_normal")  # U(-1, 1) as the paper says; N(0, 0.02) truncated, as the official code
OPTIMIZERS = ("sgd", "adamw")


@dataclass
class MQTConfig:
    """Everything needed to build a model and train it. Every field can be overridden from the CLI."""

    name: str = "custom"
    # --- data / tasks ---
    dataset: str = "synthetic"  # label space: synthetic | nyud | pascal
    tasks: tuple[str, ...] = ("semseg", "parts", "sal", "normals", "depth", "edge")
    image_size: tuple[int, int] = (128, 128)  # (H, W) training crop (and predict()'s working size)
    eval_size: tuple[int, ...] = ()  # (H, W) evaluation images are padded to; () = image_size
    data_root: str = ""  # folder of NYUD_MT / PASCAL_MT (unused for synthetic)
    train_size: int = 2000  # synthetic world: scenes in the train split
    val_size: int = 200  # synthetic world: scenes in the val split
    synthetic_world: str = "classic"  # which synthetic world: classic | rich (real-photo textures, random cameras)
    classic_fraction: float = 0.0  # rich world: this fraction of the train split are classic scenes (val stays rich;
    # set it to 0 too when switching such a config to the classic world: it is an error there)
    # --- feature extractor (Sec. III-B) ---
    backbone: str = "resnet18"
    pretrained: bool = False  # start from ImageNet weights (timm downloads them once); the paper presets do
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    # --- head ---
    head: str = "mqt"  # mqt | multi-task | single-task (Tab. II/III baselines)
    dim: int = 128  # head width C
    num_heads: int = 4
    mlp_ratio: float = 4.0
    num_queries: int = 64  # M per task (Tab. IV c)
    depth: int = 1  # encoder and decoder blocks (Tab. IV b)
    num_scales: int = 2  # task-specific feature scales (Tab. VI)
    scale_fusion: str = "gated"  # how coarse scales return: gated (zero-init gain) | add (unit gain); mqt.py
    query_learning: bool = True  # eqs. (3)-(4) (Tab. IV a)
    cross_task_attention: bool = True  # eqs. (5)-(6) (Tab. IV a)
    shared_encoder_decoder: bool = True  # one encoder/decoder for all tasks (Tab. V)
    learn_queries: bool = False  # see module docstring
    query_init: str = "uniform"  # the queries' initialisation, one of QUERY_INITS (mqt.py)
    pixel_pos_scale: float = 1.0  # strength of the pixels' fixed sine encoding (the official head has none: 0)
    decoder_layer_scale: float = 0.0  # 0: unit-gain residuals in the decoder; > 0: LayerScale gains from this value
    head_lr_scale: float = 1.0  # the learning rate of everything but the backbone, as a multiple of lr
    # --- loss ---
    edge_pos_weight: float | None = None  # boundaries' balanced-BCE weight; None = the dataset's official one
    depth_ssi_weight: float = 0.0  # weight of a scale-and-shift-invariant L1 beside depth's (0: the paper's)
    # --- recipe (Sec. IV-A) ---
    optimizer: str = "sgd"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    poly_power: float = 0.9
    warmup_iters: int = 0
    iterations: int = 40000
    batch_size: int = 8
    grad_clip: float = 0.0  # 0 = off
    eval_every: int = 2000
    log_every: int = 10  # steps between loss records in the history
    checkpoint_every: int = 1000
    num_workers: int = 2
    seed: int = 0
    device: str = "auto"  # auto = cuda > mps > cpu
    precision: str = "auto"  # training autocast: auto | fp32 | bf16 | fp16 (mqt_lite.precision)
    eval_precision: str = "auto"  # evaluation / predict autocast; auto = bf16/fp16 on CUDA, fp32 on CPU

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        self.image_size = tuple(self.image_size)  # type: ignore[assignment]
        self.eval_size = tuple(self.eval_size) or self.image_size
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the valid choices for any bad field."""
        if self.dataset not in DATASET_TASKS:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {sorted(DATASET_TASKS)}")
        if not self.tasks:
            raise ValueError("tasks is empty; pick some of " + ", ".join(DATASET_TASKS[self.dataset]))
        for t in self.tasks:
            if t not in TASKS:
                raise ValueError(f"unknown task {t!r}; valid tasks: {sorted(TASKS)}")
            if t not in DATASET_TASKS[self.dataset]:
                raise ValueError(
                    f"task {t!r} has no labels in dataset {self.dataset!r}; "
                    f"valid for {self.dataset}: {list(DATASET_TASKS[self.dataset])}"
                )
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks has duplicates: {self.tasks}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; valid: {list(HEADS)}")
        if self.scale_fusion not in SCALE_FUSIONS:
            raise ValueError(f"unknown scale_fusion {self.scale_fusion!r}; valid: {list(SCALE_FUSIONS)}")
        if self.query_init not in QUERY_INITS:
            raise ValueError(f"unknown query_init {self.query_init!r}; valid: {list(QUERY_INITS)}")
        if self.synthetic_world not in SYNTHETIC_WORLDS:
            raise ValueError(f"unknown synthetic_world {self.synthetic_world!r}; valid: {list(SYNTHETIC_WORLDS)}")
        if self.classic_fraction and self.synthetic_world != "rich":
            raise ValueError(f"classic_fraction mixes classic scenes into the rich world's training set; it needs "
                             f"synthetic_world='rich', got {self.synthetic_world!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {list(OPTIMIZERS)}")
        self._validate_numbers()  # before the divisibility check below (num_heads may be 0)
        check_precision(self.precision, "precision")
        check_precision(self.eval_precision, "eval_precision")
        if self.dim % self.num_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(f"image_size must be (H, W) with positive sides, got {self.image_size}")

    def _validate_numbers(self) -> None:
        """Every number finite and in its range (a negative or NaN lr would only surface deep in the optimizer)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        ranges = {  # field: (low, high, low inclusive)
            "lr": (0.0, math.inf, False), "mlp_ratio": (0.0, math.inf, False),
            "weight_decay": (0.0, math.inf, True), "grad_clip": (0.0, math.inf, True),
            "poly_power": (0.0, math.inf, True), "pixel_pos_scale": (0.0, math.inf, True),
            "decoder_layer_scale": (0.0, math.inf, True), "head_lr_scale": (0.0, math.inf, False),
            "momentum": (0.0, 1.0, True), "edge_pos_weight": (0.0, 1.0, False),
            "classic_fraction": (0.0, 1.0, True), "depth_ssi_weight": (0.0, math.inf, True),
            "warmup_iters": (0, math.inf, True), "num_workers": (0, math.inf, True),
            "train_size": (1, math.inf, True), "val_size": (1, math.inf, True),
            "eval_every": (1, math.inf, True), "log_every": (1, math.inf, True), "checkpoint_every": (1, math.inf, True),
            **{k: (1, math.inf, True) for k in ("num_queries", "depth", "num_scales", "dim", "num_heads", "batch_size",
                                                  "iterations")},
        }
        for key, (low, high, inclusive) in ranges.items():
            value = getattr(self, key)
            if value is None:  # an optional field left to its rule (edge_pos_weight)
                continue
            if not (low <= value if inclusive else low < value) or value > high:
                bound = f"{'>=' if inclusive else '>'} {low}" + (f" and <= {high}" if high != math.inf else "")
                raise ValueError(f"{key} must be {bound}, got {value}")

    # --- conversions ---
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def edge_weight(self) -> float:
        """The boundaries' positive weight in use: the field, or the dataset's official value."""
        return self.edge_pos_weight if self.edge_pos_weight is not None else EDGE_POS_WEIGHT[self.dataset]

    @classmethod
    def from_card(cls, d: dict[str, Any]) -> "MQTConfig":
        """The config saved in a checkpoint card, including cards written before a field existed."""
        d = dict(d)
        if "amp" in d:  # before `precision`: amp=True meant bf16 autocast on CUDA only, fp32 training on CPU
            d.setdefault("eval_precision", "auto" if d.pop("amp") else "fp32")
            d.setdefault("precision", "fp32")
        d.setdefault("scale_fusion", "add")  # before `scale_fusion`, coarse scales were added at unit gain
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MQTConfig":
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {sorted(valid)}")
        return cls(**d)

    def replace(self, **overrides: Any) -> "MQTConfig":
        """A copy with fields replaced; unknown keys raise ValueError listing the valid ones."""
        d = self.to_dict()
        d.update(overrides)
        return MQTConfig.from_dict(d)

    def model_dict(self) -> dict[str, Any]:
        """Only the fields that change the model's parameters (used to check checkpoint compatibility)."""
        keys = ("dataset", "tasks", "backbone", "backbone_kwargs", "head", "dim", "num_heads", "mlp_ratio",
                "num_queries", "depth", "num_scales", "scale_fusion", "query_learning", "cross_task_attention",
                "shared_encoder_decoder", "learn_queries", "decoder_layer_scale")
        return {k: getattr(self, k) for k in keys}


def _nyud(name: str, backbone: str, dim: int, **kw: Any) -> MQTConfig:
    # Trained on 448x576 crops, evaluated on the full 480x640 images (Sec. IV-A, ATRC protocol).
    return MQTConfig(name=name, dataset="nyud", tasks=DATASET_TASKS["nyud"], image_size=(448, 576),
                     eval_size=(480, 640), backbone=backbone, dim=dim, pretrained=True, **kw)


def _pascal(name: str, backbone: str, dim: int, **kw: Any) -> MQTConfig:
    # PASCAL images are at most 500x500: evaluation pads them to 512x512.
    return MQTConfig(name=name, dataset="pascal", tasks=DATASET_TASKS["pascal"], image_size=(512, 512),
                     backbone=backbone, dim=dim, pretrained=True, **kw)


# HRNet's raw branch outputs (18/36/72/144 channels at strides 4-32), not timm's default "incre" modules.
_HRNET = {"feature_location": ""}


def _swin(variant: str, size: tuple[int, int]) -> dict[str, Any]:
    # Swin is built for the preset's input size; strict_img_size=False lets it take any multiple of 32.
    return {"backbone": f"swin_{variant}_patch4_window7_224",
            "backbone_kwargs": {"img_size": list(size), "strict_img_size": False}}


PRESETS: dict[str, MQTConfig] = {
    # Our CPU model for the synthetic world: HRNet-18 (small, v1), a narrow head, AdamW, about 11k training
    # images (900 steps of 12). The README gives its training time and metrics as measured.
    "tiny-synthetic": MQTConfig(
        name="tiny-synthetic", dataset="synthetic", tasks=DATASET_TASKS["synthetic"], image_size=(128, 128),
        backbone="hrnet_w18_small", backbone_kwargs=_HRNET, dim=64, num_heads=4, num_queries=32, mlp_ratio=2.0,
        optimizer="adamw", lr=2e-3, weight_decay=1e-4, iterations=900, batch_size=12, warmup_iters=50,
        eval_every=300, checkpoint_every=100, train_size=2000, val_size=100, grad_clip=1.0, num_workers=1,
    ),
    "hrnet18-nyud": _nyud("hrnet18-nyud", "hrnet_w18_small_v2", 128, backbone_kwargs=_HRNET),
    "hrnet18-pascal": _pascal("hrnet18-pascal", "hrnet_w18_small_v2", 128, backbone_kwargs=_HRNET),
}
# tiny-synthetic's model for real photos: trained on the rich world (real-photo textures, random cameras, lights and
# furniture; data/rich.py). It varies far more than the classic world, so twice the scenes and 3.3x the steps (about
# 29 min at the 0.58 s per step measured for it on the 2-core development CPU); 30 % of its training scenes are
# classic ones (so it keeps the classic world), and depth also gets the scale-and-shift-invariant term (losses.py),
# which rewards the layout a photo of unknown scale can show. Neither is the paper's.
PRESETS["tiny-rich"] = PRESETS["tiny-synthetic"].replace(
    name="tiny-rich", synthetic_world="rich", train_size=4000, iterations=3000, warmup_iters=100, eval_every=600,
    classic_fraction=0.3, depth_ssi_weight=1.0)
for _v, _dim in (("tiny", 256), ("small", 256), ("base", 256), ("large", 256)):
    _short = _v[0]
    PRESETS[f"swin-{_short}-nyud"] = _nyud(f"swin-{_short}-nyud", **_swin(_v, (448, 576)), dim=_dim)
for _v in ("tiny", "small"):
    _short = _v[0]
    PRESETS[f"swin-{_short}-pascal"] = _pascal(f"swin-{_short}-pascal", **_swin(_v, (512, 512)), dim=256)


def world_of(cfg: Any) -> str | None:
    """The synthetic world (one of SYNTHETIC_WORLDS) that a config, or its dict in a checkpoint card or an `evaluate`
    report, is about; None for a real dataset. The one rule the demo, the model card and `evaluate` go by."""
    get = cfg.get if isinstance(cfg, dict) else lambda key: getattr(cfg, key, None)
    if get("dataset") != "synthetic":
        return None
    return get("synthetic_world") or "classic"  # (cards written before the rich world have no such field)


def get_config(preset: str | MQTConfig, **overrides: Any) -> MQTConfig:
    """A preset by name (or a config) with fields overridden."""
    if isinstance(preset, MQTConfig):
        cfg = preset
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {sorted(PRESETS)}")
    return cfg.replace(**overrides) if overrides else cfg.replace()


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ["--lr=0.01", "--tasks=semseg,depth", "--query_learning=false"] into typed overrides.

    Values are parsed against the field's type; unknown keys raise ValueError listing the valid ones.
    """
    fields = {f.name: f for f in dataclasses.fields(MQTConfig)}
    out: dict[str, Any] = {}
    for item in items:
        if not item.startswith("--") or "=" not in item:
            raise ValueError(f"override {item!r} must look like --key=value")
        key, raw = item[2:].split("=", 1)
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown config key {key!r}; valid keys: {sorted(fields)}")
        default = getattr(MQTConfig(), key)
        out[key] = _parse_value(raw, default, key)
    return out


def _parse_value(raw: str, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} expects true/false, got {raw!r}")
    if isinstance(default, tuple):
        if key in ("image_size", "eval_size"):
            return tuple(int(p) for p in raw.replace("x", ",").split(",") if p)
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if isinstance(default, dict):
        return json.loads(raw)
    if default is None:  # an optional number (edge_pos_weight): "none" keeps the default rule
        return None if raw.lower() in ("", "none") else _parse_value(raw, 0.0, key)
    try:
        return type(default)(raw)
    except ValueError as e:
        raise ValueError(f"{key} expects {type(default).__name__}, got {raw!r}") from e
