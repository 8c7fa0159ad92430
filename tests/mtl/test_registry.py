"""The registry: every method of the study is there, options are checked before building."""

from __future__ import annotations

import pytest
import torch

from aimstudy.mtl import MTLMethod, get, names, options

EXPECTED = {
    "stl", "ls", "pcgrad", "cagrad", "nashmtl", "famo", "aim-scalar", "aim-matrix",
    "mgda", "imtlg", "alignedmtl", "upgrad", "uw", "dwa", "rlw",
}  # fmt: skip


def test_every_method_is_registered_paper_set_first() -> None:
    assert set(names()) == EXPECTED
    assert names()[:8] == [
        "stl", "ls", "pcgrad", "cagrad", "nashmtl", "famo", "aim-scalar", "aim-matrix",
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_get_builds_a_module_with_its_name(name: str) -> None:
    method = get(name, 4)
    assert isinstance(method, MTLMethod) and isinstance(method, torch.nn.Module)
    assert method.name == name and method.n_tasks == 4
    assert {"grad_at", "engine"} <= set(options(name))


def test_aim_options_and_defaults() -> None:
    opts = options("aim-matrix")
    assert opts["k"] == 10.0 and opts["tau_init"] == 0.0 and opts["aggregate"] == "sum"
    assert opts["lambda_g"] == 1.0 and opts["lambda_m"] == 0.01 and opts["lambda_p"] == 0.08
    assert opts["guide_mode"] == "align" and opts["policy_lr"] == 1e-3
    assert opts["conflict_only"] is False
    assert opts["guide_reduce"] == "mean" and opts["learn_policy"] is True
    assert opts["lookahead_step"] == 1e-4
    assert get("aim-matrix", 3).policy.tau.shape == (3, 3)
    assert get("aim-scalar", 3).policy.tau.shape == ()
    assert get("aim-matrix", 3, guide_mode="none").uses_guidance is False
    assert get("aim-matrix", 3).uses_guidance is True
    assert get("pcgrad", 3).uses_guidance is False


def test_bad_names_and_options() -> None:
    with pytest.raises(ValueError, match=r"unknown MTL method 'foo'; expected one of \['stl'"):
        get("foo", 3)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['c'\] for MTL method 'pcgrad'"):
        get("pcgrad", 3, c=0.5)
    with pytest.raises(ValueError, match="n_tasks must be a positive int"):
        get("ls", 0)
    with pytest.raises(ValueError, match="aggregate must be one of"):
        get("aim-scalar", 3, aggregate="max")
    with pytest.raises(ValueError, match="lambda_m must be >= 0"):
        get("aim-scalar", 3, lambda_m=-1.0)


@pytest.mark.parametrize("name", ["ls", "pcgrad", "famo"])
def test_policy_options_are_unknown_to_methods_without_a_policy(name: str) -> None:
    """learn_policy (and the other AIM options) fail in one line through the option check."""
    for key, value in (("learn_policy", False), ("guide_reduce", "mean")):
        with pytest.raises(
            ValueError, match=rf"unknown option\(s\) \['{key}'\] for MTL method"
        ) as e:
            get(name, 3, **{key: value})
        assert "\n" not in str(e.value)
