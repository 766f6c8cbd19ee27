"""Benchmarks: `python -m mqt_lite.bench {complexity,metrics,data,train,app,ablation,converge,compare} [options]`.

Each sub-command lives in its own module here and exposes `add_arguments(parser)` and `run(args) -> dict`.
Speed and memory goals are checked by these commands, never by timed tests (shared CPUs are noisy).
"""
COMMANDS = {
    "complexity": "parameters and FLOPs of the paper presets (Tab. I/II) and head-vs-official cost",
    "metrics": "boundary odsF time per 480x640 image",
    "data": "synthetic scenes per second",
    "train": "training images/s and peak memory",
    "app": "demo prediction latency",
    "ablation": "the Tab. IV-VI ablations on the synthetic world",
    "converge": "single-task vs multi-task vs mqt trained to convergence, with learning curves (resumable)",
    "compare": "this tree vs a git ref: predict and training-step time, A/B in alternating processes",
}
