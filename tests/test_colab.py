"""The Colab path of the notebooks: badges, install cells and links made from one setting (mqt_lite/colab.py), the
install cell's behaviour, and the install itself: a built wheel, installed as the install cell installs it into a
fresh virtual environment that already has torch (as Colab has), must import everything the notebooks import."""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from mqt_lite import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "notebooks" / f"{name}.ipynb" for name in colab.NOTEBOOKS]
ALICE = "https://github.com/alice/mqt_lite"


def cells(path: Path, kind: str) -> list[str]:
    return [colab.source(c) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def install_cell(path: Path) -> str:
    return next(c for c in cells(path, "code") if c.startswith(colab.INSTALL_MARK))


def test_committed_notebooks_are_made_from_the_setting():
    assert colab.apply(ROOT, colab.REPOSITORY, colab.BRANCH, check=True) == [], \
        "run `python -m mqt_lite colab` and commit the notebooks"
    assert colab.main(["--check", "--root", str(ROOT)]) == 0


def test_no_placeholder_owner_is_left():
    for path in [*NOTEBOOKS, ROOT / "notebooks" / "README.md", ROOT / "README.md"]:
        assert "OWNER" not in path.read_text(), path


def test_repository_forms():
    for form in ("github.com/alice/mqt_lite", "alice/mqt_lite", "https://github.com/alice/mqt_lite.git/", ALICE):
        assert colab.normalise(form) == ALICE
    with pytest.raises(ValueError, match="github.com/USER/NAME"):
        colab.normalise("https://gitlab.com/alice/mqt_lite")
    with pytest.raises(SystemExit):
        colab.main(["--check", "--repo", "not a repo", "--root", str(ROOT)])


def test_set_then_unset_rewrites_every_badge_install_cell_and_link(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("runs", ".ipynb*"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "notebooks").iterdir() if p.is_file()}
    assert len(colab.apply(tmp_path, ALICE, "dev")) == 5  # four notebooks and their README
    assert colab.apply(tmp_path, ALICE, "dev") == []  # idempotent
    for name in colab.NOTEBOOKS:
        path = tmp_path / "notebooks" / f"{name}.ipynb"
        url = f"https://colab.research.google.com/github/alice/mqt_lite/blob/dev/notebooks/{name}.ipynb"
        assert f"[![Open In Colab]({colab.BADGE_SVG})]({url})" in cells(path, "markdown")[0]
        cell = install_cell(path)
        assert f'REPO = "{ALICE}"' in cell and 'BRANCH = "dev"' in cell
        for text in cells(path, "markdown"):  # every link to a notebook has a Colab link; README links go to GitHub
            for m in re.finditer(r"\]\((0\d_\w+)\.ipynb\)", text):
                assert text[m.end():].startswith(f" ([Colab](https://colab.research.google.com/github/alice/"
                                                 f"mqt_lite/blob/dev/notebooks/{m[1]}.ipynb))")
            assert "](README.md" not in text
    readme = (tmp_path / "notebooks" / "README.md").read_text()
    assert readme.count("colab.research.google.com/github/alice/mqt_lite/blob/dev/notebooks/") == 4
    colab.apply(tmp_path, "", "main")
    after = {p.name: p.read_bytes() for p in (tmp_path / "notebooks").iterdir() if p.is_file()}
    assert after == before  # unset again: byte for byte what is committed (when nothing is set)


def test_store_edits_only_the_two_setting_lines(tmp_path):
    module = tmp_path / "colab.py"
    shutil.copy(colab.__file__, module)
    colab.store(ALICE, "dev", module)
    spec = importlib.util.spec_from_file_location("colab_copy", module)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert (copy.REPOSITORY, copy.BRANCH) == (ALICE, "dev")
    changed = [a for a, b in zip(Path(colab.__file__).read_text().splitlines(), module.read_text().splitlines()) if a != b]
    assert len(changed) == 2


def run_cell(code: str, in_colab: bool) -> dict:
    fake = types.ModuleType("google.colab")
    fake.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None)
    saved = {k: sys.modules.get(k) for k in ("google", "google.colab")}
    if in_colab:
        sys.modules["google.colab"] = fake
    else:
        sys.modules.pop("google.colab", None)
    try:
        ns: dict = {}
        exec(compile(code, "<install cell>", "exec"), ns)
        return ns
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_install_cell_does_nothing_outside_colab_and_stops_with_a_message_while_unset():
    cell = colab.install_cell("", "main")
    assert run_cell(cell, in_colab=False)["IN_COLAB"] is False
    with pytest.raises(RuntimeError) as e:
        run_cell(cell, in_colab=True)
    message = str(e.value)
    assert "Set REPO in this cell" in message and "python -m mqt_lite colab --repo github.com/USER/mqt_lite" in message
    assert "git+" not in colab.install_cell("", "main").split("if not REPO")[0]  # nothing is installed before it


def notebook_imports() -> list[str]:
    """Every import statement of the four notebooks' code cells (IPython magics and shell lines left out)."""
    found: list[str] = []
    for path in NOTEBOOKS:
        for code in cells(path, "code"):
            lines = [re.sub(r"^(\s*)[!%].*$", r"\1pass", line) for line in code.splitlines()]
            for node in ast.walk(ast.parse("\n".join(lines))):
                if isinstance(node, ast.Import):
                    stmts = [f"import {a.name}" for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    stmts = [f"from {node.module} import {', '.join(a.name for a in node.names)}"]
                else:
                    continue
                found += [s for s in stmts if "google" not in s and s not in found]
    return found


def test_notebook_imports_are_found():
    imports = notebook_imports()
    assert "import mqt_lite" in imports and "import ipywidgets" in imports
    assert any(s.startswith("from mqt_lite.results import") for s in imports)  # 04 reads the shipped sweeps


@pytest.mark.slow
def test_colab_install_path_in_a_fresh_venv(tmp_path):
    """Build a wheel, run the install cell (in a pretend Colab) in a new venv that sees this Python's packages
    (torch and the rest, as Colab has them) but not the editable install, then import what the notebooks import."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "mqt_lite", src / "mqt_lite", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp_path / "dist"),
                    str(src)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("mqt_lite-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"

    cell = colab.install_cell(ALICE, "main")  # the cell as it is once the repository is set; pip gets the wheel
    cell, n = re.subn(r'SPEC = f"[^"\n]*"', f'SPEC = "mqt_lite[{colab.EXTRA}] @ {wheel.as_uri()}"', cell)
    assert n == 1
    script = textwrap.dedent(f"""
        import json, sys, types
        # Colab has no mqt_lite: hide this machine's editable install (a finder on sys.meta_path)
        sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
        fake = types.ModuleType("google.colab")
        fake.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None)
        sys.modules["google.colab"] = fake
        exec({cell!r})
        for stmt in {notebook_imports()!r}:
            exec(stmt)
        import mqt_lite
        from mqt_lite.checkpoint import pretrained_path
        from mqt_lite.results import available, load_results
        print(json.dumps({{"file": mqt_lite.__file__, "results": available(),
                          "ablation_variants": len(load_results("ablation")["summary"]),
                          "bundled": sorted(p.name for p in pretrained_path("tiny-synthetic").iterdir())}}))
    """)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONPATH="")
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(venv), report["file"]  # the wheel's copy, not the editable one
    assert {"ablation", "ablation-v1", "converged"} <= set(report["results"]) and report["ablation_variants"] >= 9
    assert {"model.safetensors", "checkpoint.json"} <= set(report["bundled"])
