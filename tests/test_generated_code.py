"""The generated code in vault/v1 is exactly what `make proto` makes from proto/."""

from __future__ import annotations

from pathlib import Path

import pytest

grpc_tools = pytest.importorskip("grpc_tools")
from grpc_tools import protoc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "proto").rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    status = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{include}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *[str(ROOT / p) for p in protos],
        ]
    )
    assert status == 0
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    assert generated, "protoc generated nothing"
    for relative in generated:
        committed = ROOT / relative
        assert committed.exists(), f"{relative} is not committed; run `make proto`"
        assert committed.read_text() == (tmp_path / relative).read_text(), (
            f"{relative} is stale; run `make proto`"
        )
    committed_files = sorted(
        p.relative_to(ROOT) for p in (ROOT / "vault" / "v1").glob("*_pb2*.py*")
    )
    assert committed_files == generated, "vault/v1 holds generated files no proto makes any more"
