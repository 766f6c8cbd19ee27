"""Test-session defaults: notebooks run in QUICK mode, nothing calls out to the network."""
import os

# nbval starts the notebook kernels from this process, so they inherit these.
os.environ.setdefault("MQT_QUICK", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
