"""mqt_lite: the Multi-Query Transformer (MQTransformer) for multi-task dense prediction, small and readable.

    import mqt_lite
    model = mqt_lite.from_pretrained("tiny-synthetic")         # bundled, offline; or a folder, or "user/repo"
    preds = model.predict(image)                               # {task: np.ndarray}
    model = mqt_lite.build_model("hrnet18-nyud", num_queries=32)
    model.save_pretrained("runs/mine"); model.push_to_hub("user/mqt-mine")   # the Hub's layout + a model card
    from mqt_lite.train import train; model, history = train("tiny-synthetic", out="runs/tiny")
"""
from .checkpoint import save_checkpoint
from .config import PRESETS, MQTConfig, get_config
from .hub import from_pretrained, load_checkpoint, load_pretrained
from .model import MultiTaskModel, build_model
from .tasks import CLASS_NAMES, DATASET_TASKS, TASKS, Task, class_names

__version__ = "0.1.0"
__all__ = ["PRESETS", "MQTConfig", "get_config", "TASKS", "Task", "CLASS_NAMES", "DATASET_TASKS", "class_names",
           "build_model", "MultiTaskModel", "from_pretrained", "load_pretrained", "load_checkpoint", "save_checkpoint"]

