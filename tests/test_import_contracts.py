"""The import contracts (pyproject.toml, [tool.importlinter]) hold, and cover every app.

`make lint` runs lint-imports too; this keeps `make test` honest on its own, and fails when an app
is added without a place in the layers (an app missing from them would be checked by nothing).
"""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _contracts() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _apps() -> set[str]:
    return {path.parent.name for path in ROOT.glob("*/apps.py")}


def test_every_app_has_a_layer_and_is_a_root_package():
    config = _contracts()
    layers = next(c for c in config["contracts"] if c["id"] == "layers")["layers"]
    in_layers = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    assert _apps() <= in_layers, f"apps with no layer: {sorted(_apps() - in_layers)}"
    assert _apps() <= set(config["root_packages"])


def test_the_only_deliberate_exceptions_are_the_engine_and_consent_and_link_review():
    layers = next(c for c in _contracts()["contracts"] if c["id"] == "layers")
    text = (ROOT / "pyproject.toml").read_text()
    deliberate = text.split("# Deliberate:", 1)[1].split("# Known upward imports", 1)[0]
    named = [line.strip().strip('",') for line in deliberate.splitlines() if "->" in line]
    assert sorted(named) == [
        "matching.review -> protocols.engine",
        "protocols.engine -> consent.models",
    ]
    assert set(named) <= set(layers["ignore_imports"])


def test_lint_imports_keeps_every_contract():
    result = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
