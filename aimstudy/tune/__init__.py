"""Studies on Ray Tune: specs, the grid or Optuna search, the trainable, failure and resume.

```python
from aimstudy.tune import load_spec, run_study
spec = load_spec("studies/quickstart.yaml", overrides=["train.epochs=3"])
outcome = run_study(spec, out_dir="results/quickstart")
print(outcome.table, outcome.ui_command())
```
"""

from __future__ import annotations

from aimstudy.tune._folder import SPEC_FILE, STATE_FILE, StudyFolder, check_launch_flags
from aimstudy.tune._outcome import StudyOutcome, format_table
from aimstudy.tune._preflight import preflight
from aimstudy.tune._ray import check_resources
from aimstudy.tune._runner import resolve_out_dir, run_study
from aimstudy.tune._spec import (
    Distribution,
    FailureSpec,
    Resources,
    SpecError,
    StudySpec,
    TrackingSpec,
    TuneSpec,
    flat_assignment,
    load_spec,
    validate_spec,
)
from aimstudy.tune._tuner import param_space

__all__ = [
    "SPEC_FILE",
    "STATE_FILE",
    "Distribution",
    "FailureSpec",
    "Resources",
    "SpecError",
    "StudyOutcome",
    "StudyFolder",
    "StudySpec",
    "TrackingSpec",
    "TuneSpec",
    "check_launch_flags",
    "check_resources",
    "flat_assignment",
    "format_table",
    "load_spec",
    "param_space",
    "preflight",
    "resolve_out_dir",
    "run_study",
    "validate_spec",
]
