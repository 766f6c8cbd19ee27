"""`python -m mqt_lite card FOLDER` (re)writes a model card; `python -m mqt_lite push CHECKPOINT USER/REPO` shares a
model on the Hugging Face Hub (mqt_lite.hub). A package-level entry point: `python -m mqt_lite.hub` would run the
module a second time, as the package already imports it."""
from .hub import main

main()
