"""mqt_lite: the Multi-Query Transformer (MQTransformer) for multi-task dense prediction, small and readable."""
from .config import PRESETS, MQTConfig, get_config
from .tasks import CLASS_NAMES, DATASET_TASKS, TASKS, Task, class_names

__version__ = "0.1.0"
__all__ = ["PRESETS", "MQTConfig", "get_config", "TASKS", "Task", "CLASS_NAMES", "DATASET_TASKS", "class_names"]
