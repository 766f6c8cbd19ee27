"""Where this repository lives on GitHub, and everything in the notebooks that is made from that address: the
*Open in Colab* badges, the Colab install cells and the links between notebooks.

    python -m mqt_lite colab --repo github.com/USER/mqt_lite [--branch main]   # set the address, rewrite
    python -m mqt_lite colab                                                    # rewrite from the current setting
    python -m mqt_lite colab --unset                                            # back to "not set"
    python -m mqt_lite colab --check                                            # exit 1 if a notebook is stale

`REPOSITORY` and `BRANCH` in mqt_lite/colab.py are the one place the address is kept ("" = not set). The command edits those two
lines of this file and rewrites, from them, in every notebook: the badge line of the first cell, the "Setup" cell,
the install cell, and every markdown link to another notebook or to notebooks/README.md; and the block between
the `colab` markers of notebooks/README.md. Run it in a clone of the repository (an editable install), then commit.

While the address is not set, badges point at notebooks/README.md (which says how to set it), links stay
relative, and the install cell, run in Colab, stops with a message that says what to do. Once it is set, badges
open the notebook in Colab, each link to a notebook is followed by a Colab link and README links point at GitHub.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPOSITORY = ""  # e.g. "https://github.com/USER/mqt_lite"; set with `python -m mqt_lite colab --repo ...`
BRANCH = "main"

NOTEBOOKS = ("01_query_attention", "02_training", "03_attention_maps", "04_evaluation")
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_MARK = "# Colab only: install mqt_lite"  # first line of the install cell, how the command finds it
SETUP_MARK = "## Setup"
README_START, README_END = "<!-- colab:start (python -m mqt_lite colab writes this block) -->", "<!-- colab:end -->"
# The pip requirement the install cell installs. The `colab` extra adds nothing Colab lacks (no Jupyter): torch,
# torchvision, matplotlib, pandas and ipywidgets are already there, so pip installs only what is missing.
EXTRA = "colab"


def normalise(repo: str) -> str:
    """'github.com/USER/NAME', 'USER/NAME', 'https://github.com/USER/NAME(.git)' -> 'https://github.com/USER/NAME'."""
    repo = repo.strip().removesuffix("/").removesuffix(".git")
    repo = re.sub(r"^(https?://)?(www\.)?github\.com/", "", repo)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise ValueError(f"not a GitHub repository: {repo!r}; give it as github.com/USER/NAME")
    return f"https://github.com/{repo}"


def owner_name(repo: str) -> str:
    return repo.removeprefix("https://github.com/")


def colab_url(repo: str, branch: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{owner_name(repo)}/blob/{branch}/notebooks/{notebook}.ipynb"


def github_url(repo: str, branch: str, path: str) -> str:
    return f"{repo}/blob/{branch}/{path}"


def badge(repo: str, branch: str, notebook: str) -> str:
    if not repo:
        return (f"[![Open In Colab]({BADGE_SVG})](README.md#open-in-colab) &nbsp; *(Colab is not set up in this "
                "copy yet: [notebooks/README.md](README.md#open-in-colab) says how)*")
    return f"[![Open In Colab]({BADGE_SVG})]({colab_url(repo, branch, notebook)})"


SETUP_TEXT = (SETUP_MARK + "\n\nOn your own machine, install the package once from the repository root with "
              '`pip install -e ".[notebooks]"` and nothing below downloads anything. In Google Colab the next cell '
              "installs it from GitHub with pip (it does nothing elsewhere); pick *Runtime > Change runtime type > "
              "GPU* first if you want to train on a GPU.")

INSTALL_CELL = '''{mark} (written by `python -m mqt_lite colab`; outside Colab it does nothing)
import sys

IN_COLAB = "google.colab" in sys.modules
REPO = "{repo}"  # the GitHub repository of this notebook{hint}
BRANCH = "{branch}"
if IN_COLAB:
    import importlib
    import importlib.util
    import subprocess

    if not REPO:
        raise RuntimeError(
            "This copy of the notebook does not know which GitHub repository holds mqt_lite, so it cannot install "
            "it. Set REPO in this cell to that repository, e.g. REPO = \\"https://github.com/USER/mqt_lite\\" (USER/"
            "mqt_lite is what follows colab.research.google.com/github/ in this page's address), and run the cell "
            "again. Maintainers: run `python -m mqt_lite colab --repo github.com/USER/mqt_lite` once and commit.")
    if importlib.util.find_spec("mqt_lite") is None:
        # Colab already has torch, torchvision, matplotlib, pandas and ipywidgets: pip adds only what is missing.
        # check_call raises if pip fails (a `!pip` line would fail silently and the next cell with it).
        SPEC = f"mqt_lite[{extra}] @ git+{{REPO}}@{{BRANCH}}"
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", SPEC])
        importlib.invalidate_caches()
    try:
        import mqt_lite
    except ImportError as e:
        raise RuntimeError(f"mqt_lite was installed from {{REPO}} but does not import ({{e}}); try Runtime > "
                           "Restart session and run this cell again") from e
    print(f"mqt_lite {{mqt_lite.__version__}} from {{mqt_lite.__file__}}")
    from google.colab import output

    output.enable_custom_widget_manager()  # ipywidgets in Colab'''


def install_cell(repo: str, branch: str) -> str:
    hint = "" if repo else ' (not set yet), e.g. "https://github.com/USER/mqt_lite"'
    return INSTALL_CELL.format(mark=INSTALL_MARK, repo=repo, branch=branch, hint=hint, extra=EXTRA)


COLAB_SUFFIX = re.compile(r" \(\[Colab\]\(https://colab\.research\.google\.com/[^)]*\)\)")
NOTEBOOK_LINK = re.compile(r"\]\((0\d_[A-Za-z0-9_]+\.ipynb)\)")
README_LINK = re.compile(r"\]\((?:https://github\.com/[^)\s]+/blob/[^/)\s]+/notebooks/)?README\.md(#[^)\s]*)?\)")


def links(text: str, repo: str, branch: str) -> str:
    """Links in markdown: to another notebook (+ a Colab link when set), to notebooks/README.md (GitHub when set)."""
    text = COLAB_SUFFIX.sub("", text)
    if repo:
        text = NOTEBOOK_LINK.sub(lambda m: f"]({m[1]}) ([Colab]({colab_url(repo, branch, m[1][:-6])}))", text)
    target = github_url(repo, branch, "notebooks/README.md") if repo else "README.md"
    return README_LINK.sub(lambda m: f"]({target}{m[1] or ''})", text)


def source(cell: dict) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(True)


def render_notebook(nb: dict, name: str, repo: str, branch: str) -> dict:
    """The notebook with its badge, setup cell, install cell and links made from (repo, branch)."""
    found = {"badge": False, "install": False}
    for cell in nb["cells"]:
        text = source(cell)
        if cell["cell_type"] == "code":
            if text.startswith(INSTALL_MARK) or (not found["install"] and 'IN_COLAB = "google.colab"' in text):
                new, found["install"] = install_cell(repo, branch), True
                if new != text:
                    set_source(cell, new)  # (outside Colab the cell prints nothing: no output to clear)
            continue
        if cell["cell_type"] != "markdown":
            continue
        if text.startswith(SETUP_MARK):
            text = SETUP_TEXT
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("[![Open In Colab]"):
                lines[i], found["badge"] = badge(repo, branch, name), True
        text = links("\n".join(lines), repo, branch)
        if text != source(cell):
            set_source(cell, text)
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise ValueError(f"{name}.ipynb has no {' and no '.join(missing)} cell for `python -m mqt_lite colab`")
    return nb


def readme_block(repo: str, branch: str) -> str:
    if not repo:
        body = ("The Colab links are not set up in this copy of the repository yet: nobody has told it where on "
                "GitHub it lives.\nWhoever maintains it runs, once, in the repository root,\n\n"
                "```bash\npython -m mqt_lite colab --repo github.com/USER/mqt_lite   # your GitHub account and "
                "repository\n```\n\nand commits the notebooks: it writes the address into `mqt_lite/colab.py` (the "
                "one place it is kept) and\nmakes every badge, install cell and link from it. Until then, to run a "
                "notebook in Colab, open it there\n(*File > Open notebook > GitHub*) and set `REPO` in its install "
                "cell to the repository's address.")
    else:
        rows = "\n".join(f"| {n} | [![Open In Colab]({BADGE_SVG})]({colab_url(repo, branch, n)}) |" for n in NOTEBOOKS)
        body = (f"Each notebook opens in Colab from its badge (repository {repo}, branch `{branch}`):\n\n"
                f"| notebook | Colab |\n|---|---|\n{rows}\n\n"
                "Its first code cell installs `mqt_lite` from that repository with pip, in Colab only. To point the "
                "badges at\nanother fork: `python -m mqt_lite colab --repo github.com/USER/mqt_lite`, then commit.")
    return f"{README_START}\n{body}\n{README_END}"


def render_readme(text: str, repo: str, branch: str) -> str:
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"notebooks/README.md has no {README_START} ... {README_END} block")
    return text[:start] + readme_block(repo, branch) + text[end + len(README_END):]


def dump(nb: dict) -> str:
    """The JSON layout of Jupyter and nbconvert, so that an unchanged notebook stays byte for byte the same."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def apply(root: Path, repo: str, branch: str, check: bool = False) -> list[Path]:
    """Rewrite the notebooks (and their README) under root/notebooks from (repo, branch); returns the files that
    changed (with check=True: that would change, and nothing is written)."""
    folder = Path(root) / "notebooks"
    changed = []
    for name in NOTEBOOKS:
        path = folder / f"{name}.ipynb"
        text = path.read_text(encoding="utf-8")
        new = dump(render_notebook(json.loads(text), name, repo, branch))
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    path = folder / "README.md"
    text = path.read_text(encoding="utf-8")
    new = render_readme(text, repo, branch)
    if new != text:
        changed.append(path)
        if not check:
            path.write_text(new, encoding="utf-8")
    return changed


def store(repo: str, branch: str, module: Path = Path(__file__)) -> None:
    """Write (repo, branch) into the REPOSITORY and BRANCH lines of this module."""
    text = module.read_text(encoding="utf-8")
    text, n1 = re.subn(r'^REPOSITORY = "[^"\n]*"', f'REPOSITORY = "{repo}"', text, count=1, flags=re.M)
    text, n2 = re.subn(r'^BRANCH = "[^"\n]*"', f'BRANCH = "{branch}"', text, count=1, flags=re.M)
    if n1 != 1 or n2 != 1:
        raise ValueError(f"{module} has no REPOSITORY/BRANCH line to set")
    module.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mqt_lite colab", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--repo", help="the repository on GitHub: github.com/USER/NAME (stored in mqt_lite/colab.py)")
    p.add_argument("--branch", help=f"the branch the links open (default: the stored one, now {BRANCH!r})")
    p.add_argument("--unset", action="store_true", help="forget the repository (badges point at the README again)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not as the setting makes it")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the repository root (default: the clone this package is installed from)")
    args = p.parse_args(argv)
    if not (args.root / "notebooks").is_dir():
        p.error(f"no notebooks/ under {args.root}: run this in a clone of the repository (pip install -e .), "
                "or give --root")
    try:
        repo = "" if args.unset else normalise(args.repo) if args.repo else REPOSITORY
    except ValueError as e:
        p.error(str(e))
    branch = args.branch or BRANCH
    if args.check:
        stale = apply(args.root, repo, branch, check=True)
        for path in stale:
            print(f"stale: {path} (run `python -m mqt_lite colab`)")
        return 1 if stale else 0
    if (repo, branch) != (REPOSITORY, BRANCH):
        store(repo, branch)
        print(f"mqt_lite/colab.py: REPOSITORY = {repo!r}, BRANCH = {branch!r}")
    for path in apply(args.root, repo, branch):
        print(f"rewrote {path}")
    print(f"Colab badges and links point at {repo}, branch {branch}" if repo else
          "Colab is not set up: badges point at notebooks/README.md, the install cells stop with a message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
