"""`aimstudy data describe`: QM9 from the table alone, Biogen with its sparse label density."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimstudy.cli import main


def test_describe_qm9_reads_table_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["data", "describe", "qm9", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "130,831 in the dataset" in out
    assert "not featurized" in out
    for name, unit in [("mu", "D"), ("alpha", "a0^3"), ("homo", "eV"), ("lumo", "eV"),
                       ("r2", "a0^2"), ("zpve", "eV"), ("U0", "eV"), ("U", "eV"), ("H", "eV"),
                       ("G", "eV"), ("cv", "cal/mol/K")]:  # fmt: skip
        assert any(line.split()[:2] == [name, unit] for line in out.splitlines()), name
    assert "tasks     11" in out and "meV (x1000)" in out
    assert not (tmp_path / "graphs").exists()  # nothing was featurized


def test_describe_biogen(biogen_csv: Path, data_cache: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["data", "describe", "biogen", "--cache-dir", str(data_cache)]  # the shipped file
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"source    {biogen_csv}" in out
    assert "3,521 kept, 0 skipped" in out
    assert "label density 53.6% over all tasks" in out
    assert "hPPB" in out and "log10(% unbound)" in out


def test_describe_biogen_path_overrides(
    biogen_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = tmp_path / "head.csv"
    copy.write_text("\n".join(biogen_csv.read_text().splitlines()[:41]) + "\n")  # 40 compounds
    args = ["data", "describe", "biogen", "--path", str(copy), "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"source    {copy}" in out and "40 kept, 0 skipped" in out


def test_describe_qm9_limit_featurizes_pool(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["data", "describe", "qm9", "--limit", "50", "--featurizer", "2d", "--tasks",
            "gap,U0", "--cache-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pool of 50 (limit 50)" in out and "50 kept, 0 skipped" in out
    assert "tasks     2" in out


def test_describe_bad_input_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "describe", "csv", "--path", "/nonexistent/x.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "aimstudy data: error: csv: file not found: /nonexistent/x.csv"
    assert main(["data", "describe", "qm10"]) == 2
    assert "unknown dataset 'qm10'" in capsys.readouterr().err
