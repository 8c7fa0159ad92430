"""Study specs: a YAML file validated into a `StudySpec` that expands into `TrialConfig`s.

Everything a study can get wrong is caught here, before Ray starts: unknown keys, wrong types,
unknown methods, models or datasets, an empty grid, a repeated grid value or trial. Errors are
one line that names the key path (`grid.method[2]`, `train.lr`, `tune.space.lambda_m`) and what
is allowed.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aimstudy.data import DataConfig
from aimstudy.train import (
    SELECTION_METRIC,
    TrialConfig,
    describe_error,
    loc_text,
    method_names,
    parse_assignment,
    set_path,
    validate_config,
)
from aimstudy.tune._storage import check_storage_uri

# Trial options a study sets per study (dataset) or per trial by the platform (threads).
_NOT_IN_TRAIN = {"dataset": "the top-level `dataset:`", "threads": "`resources.cpu`"}
# The grid key whose values are whole arms (several options set together), see StudySpec.
ARMS_KEY = "arms"


class SpecError(ValueError):
    """A study spec problem: one line naming the key path and what is allowed."""


class Distribution(BaseModel):
    """One searched option: exactly one of uniform, loguniform, randint (high exclusive), choice."""

    model_config = ConfigDict(extra="forbid")

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None
    choice: list[Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            allowed = ", ".join(type(self).model_fields)
            raise ValueError(f"give exactly one of {allowed} (got {given or 'none'})")
        kind, value = given[0], getattr(self, given[0])
        if kind == "choice" and not value:
            raise ValueError("choice: empty list; give at least one value")
        if kind != "choice" and not value[0] < value[1]:
            raise ValueError(f"{kind}: low must be below high, got {list(value)}")
        if kind == "loguniform" and value[0] <= 0:
            raise ValueError(f"loguniform: bounds must be > 0, got {list(value)}")
        return self

    @property
    def kind(self) -> str:
        """Which distribution this is (the one field that is set)."""
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    def examples(self) -> list[Any]:
        """Values that validate the option before the search starts (bounds, or every choice)."""
        value = getattr(self, self.kind)
        if self.kind == "choice":
            return list(value)
        if self.kind == "randint":
            return [value[0], value[1] - 1]
        return [value[0], value[1]]

    def to_ray(self) -> Any:
        """The Ray Tune search-space object (OptunaSearch converts it to an Optuna one)."""
        from ray import tune

        value = getattr(self, self.kind)
        if self.kind == "choice":
            return tune.choice(list(value))
        return getattr(tune, self.kind)(*value)


class TuneSpec(BaseModel):
    """How trials are chosen and stopped: a grid (default) or an Optuna search, FIFO or ASHA.

    `metric`/`mode`: epoch metrics ASHA compares; Optuna optimises each trial's best value of
    them (a list of several metrics makes the search multi-objective).
    `num_samples`: Optuna trials (for a grid, repetitions of the whole grid).
    `reuse_actors`: run the next trial in a finished trial's process (saves re-importing torch);
    default on with FIFO, always off with ASHA. Off spreads short trials over a cluster's nodes.
    """

    model_config = ConfigDict(extra="forbid")

    search: Literal["grid", "optuna"] = "grid"
    space: dict[str, Distribution] = Field(default_factory=dict)
    metric: str | list[str] = SELECTION_METRIC
    mode: Literal["min", "max"] | list[Literal["min", "max"]] = "min"
    num_samples: int = Field(default=1, ge=1)
    seed: int = 0
    scheduler: Literal["fifo", "asha"] = "fifo"
    grace_period: int = Field(default=1, ge=1)
    reduction_factor: float = Field(default=3.0, gt=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    reuse_actors: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TuneSpec:
        metrics, modes = self.metrics, self.modes
        if len(modes) != len(metrics):
            raise ValueError(f"mode: {len(modes)} mode(s) for {len(metrics)} metric(s)")
        if self.space and self.search != "optuna":
            raise ValueError("space: only used with search: optuna (the grid goes in `grid:`)")
        if self.search == "optuna" and not self.space:
            raise ValueError("space: search: optuna needs at least one option to search")
        if len(metrics) > 1 and self.search != "optuna":
            raise ValueError("metric: several metrics (multi-objective) need search: optuna")
        if self.reuse_actors and self.scheduler == "asha":
            raise ValueError("reuse_actors: cannot be true with scheduler: asha")
        return self

    @property
    def metrics(self) -> list[str]:
        """The metric(s) as a list."""
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    @property
    def modes(self) -> list[str]:
        """The mode(s) as a list, one per metric (a single mode applies to every metric)."""
        if isinstance(self.mode, str):
            return [self.mode] * len(self.metrics)
        return list(self.mode)


class Resources(BaseModel):
    """What one trial gets: CPUs (also its torch threads) and a GPU fraction."""

    model_config = ConfigDict(extra="forbid")

    cpu: float = Field(default=1.0, gt=0)
    gpu: float = Field(default=0.0, ge=0)

    @property
    def threads(self) -> int:
        """Torch threads of a trial: its whole CPUs, at least one."""
        return max(1, int(self.cpu))


class FailureSpec(BaseModel):
    """Retries of a crashed trial (from its last checkpoint) before it is recorded as failed."""

    model_config = ConfigDict(extra="forbid")

    max_failures: int = Field(default=2, ge=0)


class TrackingSpec(BaseModel):
    """Where trials are tracked (default: SQLite in the study's output folder) and what is drawn."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = None
    heatmap_epochs: list[int] = Field(default_factory=lambda: [1])


class StudySpec(BaseModel):
    """A validated study: dataset, shared trial options, grid and/or search, resources, tracking.

    `train`: any `TrialConfig` option shared by every trial (model, epochs, lr, method_options...).
    `grid`: dotted option path -> list of values; the Cartesian product (× tune.num_samples)
    makes the trials. Grid values override `train`. Each value may appear once per key.
    `grid.arms`: a list of mappings {option path: value}, each an arm whose options are set
    together, crossed with the other grid keys: the way to compare methods that take different
    options (`[{method: aim-matrix, method_options: {lambda_p: 0.0}}, {method: pcgrad}]`), which
    a product of `method` and `method_options` cannot express. An arm's keys are not grid keys.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    dataset: DataConfig
    train: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    tune: TuneSpec = Field(default_factory=TuneSpec)
    resources: Resources = Field(default_factory=Resources)
    failure: FailureSpec = Field(default_factory=FailureSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    output: Path | None = None
    # Launch state and Tune experiments on a filesystem that outlives the driver (`_storage.py`).
    storage: str | None = None

    @model_validator(mode="after")
    def _known_storage(self) -> StudySpec:
        if self.storage is not None:
            check_storage_uri(self.storage)
        return self

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell as {dotted path: value}, in grid order (last key varies fastest);
        an arm's options stand in the place of `arms`."""
        keys = list(self.grid)
        return [
            flat_assignment(dict(zip(keys, values, strict=True)))
            for values in itertools.product(*self.grid.values())
        ]

    @property
    def n_trials(self) -> int:
        """How many trials the study runs."""
        if self.tune.search == "optuna":
            return self.tune.num_samples
        return len(self.cells()) * self.tune.num_samples

    def trial_config(self, assignment: dict[str, Any]) -> TrialConfig:
        """TrialConfig of one trial: dataset + train + the trial's grid/search values."""
        merged = copy.deepcopy(self.train)
        merged["dataset"] = self.dataset.model_dump()
        merged["threads"] = self.resources.threads
        if self.resources.gpu == 0 and merged.get("device", "auto") == "auto":
            merged["device"] = "cpu"
        for path, value in flat_assignment(assignment).items():
            set_path(merged, path, value)
        return TrialConfig.model_validate(merged)


def flat_assignment(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's Tune config as {option path: value}: its arm's options replace `arms`."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key == ARMS_KEY and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def load_spec(path: str | Path, overrides: list[str] | None = None) -> StudySpec:
    """Read, override (`key.path=value`, value parsed as YAML) and validate a study file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of study keys, got {type(raw).__name__}")
    for item in overrides or []:
        try:
            key, value = parse_assignment(item, "--set")
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        set_path(raw, key, value)
    return validate_spec(raw, source=str(path))


def validate_spec(raw: dict[str, Any], source: str = "study") -> StudySpec:
    """Validate a raw mapping into a StudySpec and check every trial it expands into."""
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"{source}: {describe_error(exc, StudySpec, ())}") from None
    spec = _absolute_paths(spec)
    _check_train_keys(spec, source)
    _check_grid(spec, source)
    _check_arms(spec, source)
    _check_repeats(spec, source)
    _check_names(spec, source)
    seen: dict[str, int] = {}
    for index, assignment in enumerate(_validation_assignments(spec)):
        try:
            config = spec.trial_config(assignment)
        except ValidationError as exc:
            raise SpecError(f"{source}: {_describe_trial(exc, spec, assignment)}") from None
        try:
            validate_config(config)
        except ValueError as exc:
            raise SpecError(f"{source}: trial ({_where(assignment)}): {exc}") from None
        if spec.tune.search == "grid":
            _check_same_trial(config, index, seen, assignment, source)
    if spec.dataset.path is not None and not spec.dataset.path.exists():
        raise FileNotFoundError(f"{source}: dataset.path {spec.dataset.path} does not exist")
    return spec


def _absolute_paths(spec: StudySpec) -> StudySpec:
    """Resolve relative paths against the working directory: Ray trials run elsewhere."""
    updates = {}
    for key in ("path", "cache_dir"):
        value = getattr(spec.dataset, key)
        if value is not None:
            updates[key] = Path(value).expanduser().resolve()
    if updates:
        spec = spec.model_copy(update={"dataset": spec.dataset.model_copy(update=updates)})
    return spec


def _check_train_keys(spec: StudySpec, source: str) -> None:
    """`train:` holds TrialConfig options except those a study sets elsewhere."""
    allowed = [k for k in TrialConfig.model_fields if k not in _NOT_IN_TRAIN]
    for key in spec.train:
        if key in _NOT_IN_TRAIN:
            raise SpecError(f"{source}: train.{key}: set it through {_NOT_IN_TRAIN[key]}")
        if key not in TrialConfig.model_fields:
            raise SpecError(f"{source}: train.{key}: unknown key; allowed: {', '.join(allowed)}")


def _check_grid(spec: StudySpec, source: str) -> None:
    """A grid search needs a non-empty grid of non-empty lists on known options."""
    if spec.tune.search == "grid" and not spec.grid:
        raise SpecError(
            f"{source}: grid: empty; give at least one option, e.g. grid: {{seed: [0]}}"
        )
    for key, values in {**spec.grid, **spec.tune.space}.items():
        section = "grid" if key in spec.grid else "tune.space"
        if section == "grid" and key == ARMS_KEY:
            continue  # _check_arms
        _check_option_path(key, f"{source}: {section}.{key}")
        if section == "grid" and not values:
            raise SpecError(f"{source}: grid.{key}: empty list; give at least one value")
        if section == "grid" and spec.tune.search == "optuna" and len(values) > 1:
            raise SpecError(
                f"{source}: grid.{key}: Optuna search takes one value per grid option "
                "(searched options go in tune.space)"
            )
    both = sorted(set(spec.grid) & set(spec.tune.space))
    if both:
        raise SpecError(f"{source}: tune.space.{both[0]}: also in grid; keep it in one place")


def _check_arms(spec: StudySpec, source: str) -> None:
    """`grid.arms`: mappings of known option paths that no other grid key sets (`{}`: the
    `train` options as they are)."""
    for i, arm in enumerate(spec.grid.get(ARMS_KEY, [])):
        where = f"{source}: grid.{ARMS_KEY}[{i}]"
        if not isinstance(arm, dict):
            raise SpecError(
                f"{where}: expected a mapping of option: value, e.g. {{method: pcgrad}} "
                f"(got {arm!r})"
            )
        for key in arm:
            _check_option_path(str(key), f"{where}.{key}")
            if key in spec.grid or key in spec.tune.space:
                section = "grid" if key in spec.grid else "tune.space"
                raise SpecError(f"{where}.{key}: also {section}.{key}; keep it in one place")


def _check_repeats(spec: StudySpec, source: str) -> None:
    """A value given twice under one grid key makes every cell it is in twice: an error."""
    for key, values in spec.grid.items():
        for j, value in enumerate(values):
            i = next(i for i, v in enumerate(values) if v == value)  # 1 and 1.0 too
            if i != j:
                raise SpecError(
                    f"{source}: grid.{key}[{j}]: {value!r} repeats grid.{key}[{i}]; "
                    "give each value once (repetitions: tune.num_samples)"
                )


def _check_same_trial(
    config: TrialConfig, index: int, seen: dict[str, int], cell: dict[str, Any], source: str
) -> None:
    """Two grid cells that differ only in how they spell it (an arm `{}` and one setting the
    `train` value) would run the same trial twice."""
    key = json.dumps(config.model_dump(mode="json"), sort_keys=True, default=str)
    if key in seen:
        raise SpecError(
            f"{source}: grid: cell {index} ({_where(cell)}) is the same trial as cell "
            f"{seen[key]}; remove one"
        )
    seen[key] = index


def _where(assignment: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in assignment.items()) or "train"


def _check_option_path(path: str, where: str) -> None:
    """The first segment of a dotted option path must be a TrialConfig field."""
    head, _, rest = path.partition(".")
    nested = {"dataset", "method_options", "model_options", "stl_reference"}
    if head not in TrialConfig.model_fields or head == "threads":
        allowed = ", ".join(k for k in TrialConfig.model_fields if k != "threads")
        raise SpecError(f"{where}: unknown trial option; allowed: {allowed}")
    if rest and head not in nested:
        raise SpecError(f"{where}: {head} has no sub-options; nested paths only under {nested}")
    if head == "dataset" and rest.partition(".")[0] not in DataConfig.model_fields:
        allowed = ", ".join(DataConfig.model_fields)
        raise SpecError(f"{where}: unknown dataset option; allowed: {allowed}")


def _check_names(spec: StudySpec, source: str) -> None:
    """Methods, models and datasets must be registered names."""
    from aimstudy import data, models

    for field, registry, where in (
        ("method", method_names(), "method"),
        ("model", models.names(), "model"),
        ("dataset.name", data.names(), "dataset"),
    ):
        for key, value in _values_of(spec, field):
            if value not in registry:
                raise SpecError(
                    f"{source}: {key}: unknown {where} {value!r}; allowed: {', '.join(registry)}"
                )


def _values_of(spec: StudySpec, field: str) -> list[tuple[str, Any]]:
    """(key path, value) of every place a study sets `field`."""
    found: list[tuple[str, Any]] = []
    if field == "dataset.name":
        found.append(("dataset.name", spec.dataset.name))
    elif field in spec.train:
        found.append((f"train.{field}", spec.train[field]))
    elif field not in spec.grid and field not in spec.tune.space:
        found.append((f"train.{field}", TrialConfig.model_fields[field].default))
    if field in spec.grid:
        found += [(f"grid.{field}[{i}]", v) for i, v in enumerate(spec.grid[field])]
    for i, arm in enumerate(spec.grid.get(ARMS_KEY, [])):
        if field in arm:
            found.append((f"grid.{ARMS_KEY}[{i}].{field}", arm[field]))
    if field in spec.tune.space:
        examples = spec.tune.space[field].examples()
        found += [(f"tune.space.{field}.choice[{i}]", v) for i, v in enumerate(examples)]
    return found


def _validation_assignments(spec: StudySpec) -> list[dict[str, Any]]:
    """Assignments that exercise every grid value and every searched example at least once."""
    cells = spec.cells() or [{}]
    if spec.tune.search == "grid":
        return cells
    base = cells[0]
    out = [dict(base)]
    for key, dist in spec.tune.space.items():
        out += [{**base, key: value} for value in dist.examples()]
    return out


def _describe_trial(exc: ValidationError, spec: StudySpec, assignment: dict[str, Any]) -> str:
    """A TrialConfig error traced back to where the study set the value."""
    loc = tuple(exc.errors()[0]["loc"])
    dotted = ".".join(str(p) for p in loc)
    for key, value in assignment.items():
        if dotted == key or dotted.startswith(key + "."):
            prefix = _source_of(spec, key, value, assignment)
            return describe_error(exc, TrialConfig, ()).replace(loc_text(loc), prefix, 1)
    if loc and loc[0] == "dataset":
        return describe_error(exc, TrialConfig, ())
    return describe_error(exc, TrialConfig, ("train",))


def _source_of(spec: StudySpec, key: str, value: Any, assignment: dict[str, Any]) -> str:
    """Where a trial's value was set: `grid.key[i]`, `grid.arms[i].key` or `tune.space.key`."""
    if key in spec.grid:
        index = next((i for i, v in enumerate(spec.grid[key]) if v == value), None)
        return f"grid.{key}" + (f"[{index}]" if index is not None else "")
    for i, arm in enumerate(spec.grid.get(ARMS_KEY, [])):
        if key in arm and all(assignment.get(k) == v for k, v in arm.items()):
            return f"grid.{ARMS_KEY}[{i}].{key}"
    return f"tune.space.{key}"
