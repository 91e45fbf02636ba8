"""The layers' import rules (pyproject's [tool.importlinter]) hold on the tree,
and each one fails when a forbidden import is added to a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports run on `tree`, its packages found there before any installed copy."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "plugins")]),
        # Rich draws its boxes only on a terminal; the contract names stay on one line.
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages the rules cover and of the file that states them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "vault", tmp_path / "vault", ignore=ignore)
    shutil.copytree(ROOT / "plugins", tmp_path / "plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(module: Path, statement: str) -> None:
    """`statement` at the end of the module (the rules read imports anywhere)."""
    text = module.read_text()
    module.write_text(text + ("" if text.endswith("\n") else "\n") + statement + "\n")


def test_the_tree_keeps_every_rule() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_keeps_every_rule(tree: Path) -> None:
    # The copy is what the failing cases change: it must be found, and pass, first.
    result = _lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


BROKEN = [
    pytest.param(
        "vault/core/__init__.py",
        "import grpc",
        "The core knows nothing of gRPC",
        "vault.core -> grpc",
        id="the core imports grpc",
    ),
    pytest.param(
        "vault/core/__init__.py",
        "from google.protobuf import timestamp_pb2",
        "The core knows nothing of gRPC",
        "vault.core -> google",
        id="the core imports protobuf",
    ),
    pytest.param(
        "vault/core/__init__.py",
        "from vault.storage import sqlite",
        "The core knows nothing of gRPC",
        "vault.core -> vault.storage.sqlite",
        id="the core imports the storage engine",
    ),
    pytest.param(
        "vault/core/__init__.py",
        "from vault import server",
        "The core knows nothing of gRPC",
        "vault.core -> vault.server",
        id="the core imports the server",
    ),
    pytest.param(
        "plugins/vault_lms/__init__.py",
        "import vault.core",
        "The built-in connectors import only the connector API",
        "vault_lms -> vault.core",
        id="a connector imports the core",
    ),
    pytest.param(
        "plugins/vault_salon/__init__.py",
        "from vault import crypto",
        "The built-in connectors import only the connector API",
        "vault_salon -> vault.crypto",
        id="a connector imports crypto",
    ),
    pytest.param(
        "vault/server/__init__.py",
        "from vault.storage import sqlite",
        "The edge (the gRPC server) does not import storage",
        "vault.server -> vault.storage.sqlite",
        id="the edge imports storage",
    ),
    pytest.param(
        "vault/settings.py",
        "from vault import demo",
        "The settings know nothing of the demo",
        "vault.settings -> vault.demo",
        id="the settings import the demo",
    ),
    pytest.param(
        "vault/crypto.py",
        "import vault.core",
        "The cryptography and the keyring do not import the core",
        "vault.crypto -> vault.core",
        id="crypto imports the core",
    ),
]


@pytest.mark.parametrize(("module", "statement", "contract", "chain"), BROKEN)
def test_a_forbidden_import_breaks_its_rule(
    tree: Path, module: str, statement: str, contract: str, chain: str
) -> None:
    _add_import(tree / module, statement)
    result = _lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, result.stdout
    assert chain in broken, result.stdout
