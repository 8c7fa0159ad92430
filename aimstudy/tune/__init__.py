"""Studies on Ray Tune: specs, the grid or Optuna search, the trainable, failure and resume.

```python
from aimstudy.tune import load_spec, run_study
spec = load_spec("studies/quickstart.yaml", overrides=["train.epochs=3"])
outcome = run_study(spec, out_dir="results/quickstart")
print(outcome.table, outcome.ui_command())
```
"""

from __future__ import annotations

from aimstudy.tune._runner import (
    StudyOutcome,
    check_resources,
    format_table,
    param_space,
    resolve_out_dir,
    run_study,
)
from aimstudy.tune._spec import (
    Distribution,
    FailureSpec,
    Resources,
    SpecError,
    StudySpec,
    TrackingSpec,
    TuneSpec,
    load_spec,
    validate_spec,
)

__all__ = [
    "Distribution",
    "FailureSpec",
    "Resources",
    "SpecError",
    "StudyOutcome",
    "StudySpec",
    "TrackingSpec",
    "TuneSpec",
    "check_resources",
    "format_table",
    "load_spec",
    "param_space",
    "resolve_out_dir",
    "run_study",
    "validate_spec",
]
