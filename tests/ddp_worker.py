"""Run by `torchrun --nproc_per_node=2` in test_train.py: a tiny DDP run on CPU (gloo); every rank saves its weights."""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mqt_lite.train import train

out = Path(sys.argv[1])
cfg = dict(image_size=(64, 64), train_size=16, val_size=4, batch_size=2, dim=32, num_heads=2, num_queries=4,
           mlp_ratio=1.0, num_workers=0, eval_every=10_000, checkpoint_every=10_000, iterations=4)
model, _ = train("tiny-synthetic", out / "run", progress=False, **cfg)
rank = torch.distributed.get_rank()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"rank{rank}.safetensors"))
torch.distributed.destroy_process_group()
