"""`python -m mqt_lite card FOLDER` (re)writes a model card; `python -m mqt_lite push CHECKPOINT USER/REPO` shares a
model on the Hugging Face Hub (mqt_lite.hub); `python -m mqt_lite colab --repo github.com/USER/mqt_lite` sets the
GitHub repository that the notebooks' Colab badges, install cells and links are made from (mqt_lite.colab).
A package-level entry point: `python -m mqt_lite.hub` would run the module a second time, as the package already
imports it."""
import sys

if sys.argv[1:2] == ["colab"]:
    from .colab import main as colab_main

    sys.exit(colab_main(sys.argv[2:]))
else:
    from .hub import main

    if not sys.argv[1:] or sys.argv[1] in ("-h", "--help"):
        print("python -m mqt_lite colab --help: set the GitHub repository of the notebooks' Colab badges and links",
              file=sys.stderr)
    main()
