"""`run_trial`: one method on one dataset configuration, from data to best checkpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call
from torch.utils.data import ConcatDataset

from aimstudy import models as model_registry
from aimstudy import mtl, reference
from aimstudy.data import PreparedData, prepare
from aimstudy.models import MultiTaskModel
from aimstudy.train import _checkpoint as ckpt
from aimstudy.train._callbacks import EpochReport, TrialResult, notify
from aimstudy.train._config import RESUMABLE_CHANGES, TrialConfig
from aimstudy.train._diagnostics import EpochDiagnostics, split_diagnostics
from aimstudy.train._early_stopping import EarlyStopping
from aimstudy.train._folder import TrialFolder, policy_rows
from aimstudy.train._loaders import GuidanceStream, epoch_batches, n_batches
from aimstudy.train._loss import check_finite, masked_task_losses
from aimstudy.train._memory import keep_freed_memory
from aimstudy.train._metrics import (
    absolute_errors,
    check_reference_tasks,
    delta_m,
    split_metrics,
)
from aimstudy.train._reference import is_reference, run_reference_trial
from aimstudy.train._selection import (
    DELTA_M_METRIC,
    EPOCH,
    EPOCH_SECONDS,
    EVAL_SECONDS,
    LR,
    SELECTION_METRIC,
    TRAIN_LOSS,
    best_key,
    best_metrics,
)


def method_names() -> list[str]:
    """Every method a trial may name: the gradient (MTL) methods, then the reference models."""
    return mtl.names() + reference.names()


def validate_config(config: TrialConfig) -> None:
    """Cheap checks of names and options, so bad input fails before data or training."""
    if config.method not in method_names():
        raise ValueError(f"method: unknown name {config.method!r}; choose from {method_names()}")
    if config.model not in model_registry.names():
        raise ValueError(
            f"model: unknown name {config.model!r}; choose from {model_registry.names()}"
        )
    model_registry.check_options(config.model, config.model_options)
    try:
        if is_reference(config.method):
            reference.get(config.method, **config.method_options)
        else:
            mtl.get(config.method, n_tasks=2, **config.method_options)
    except TypeError as exc:  # an unknown keyword
        raise ValueError(f"method_options for {config.method!r}: {exc}") from None
    resolve_device(config.device)


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; a cuda device that is missing is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} requested but CUDA is not available")
    return torch.device(name)


@dataclass
class _State:
    """Everything that changes during training and goes into `last.pt`."""

    model: MultiTaskModel
    method: mtl.MTLMethod
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    guide: GuidanceStream | None
    early: EarlyStopping
    epoch: int = 0  # last finished epoch (1-based)
    step: int = 0  # optimisation steps done
    history: list[dict[str, float]] = field(default_factory=list)
    policy: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self, config: TrialConfig) -> dict[str, Any]:
        return {
            "version": ckpt.CHECKPOINT_VERSION,
            "config": config.model_dump(mode="json"),
            "model": self.model.state_dict(),
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "guide": self.guide.state_dict() if self.guide else None,
            "rng": ckpt.rng_state(),
            "loop": {"epoch": self.epoch, "step": self.step},
            "early_stopping": self.early.state_dict(),
            "history": self.history,
            "policy": self.policy,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.guide is not None and state["guide"] is not None:
            self.guide.load_state_dict(state["guide"])
        self.epoch, self.step = int(state["loop"]["epoch"]), int(state["loop"]["step"])
        self.early.load_state_dict(state["early_stopping"])
        self.history, self.policy = list(state["history"]), list(state["policy"])
        ckpt.set_rng_state(state["rng"])


class _Trial:
    """The loop of one trial, with its data and state (see `run_trial`)."""

    def __init__(self, config: TrialConfig, workdir: Path, callbacks: Sequence[Any]) -> None:
        self.config, self.workdir, self.callbacks = config, workdir, list(callbacks)
        self.folder = TrialFolder(workdir)
        self.device = resolve_device(config.device)
        self.data: PreparedData = prepare(
            config.dataset,
            n_train=config.n_train,
            guidance_fraction=config.guidance_fraction,
            seed=config.seed,
        )
        self.tasks = list(self.data.tasks)
        self.task_names = [t.name for t in self.tasks]
        self.factors = [float(t.report_factor) for t in self.tasks]
        self.mean = _as_tensor(self.data.scaler.mean).to(self.device)  # [T]
        self.std = _as_tensor(self.data.scaler.std).to(self.device)  # [T]
        check_reference_tasks(config.stl_reference, self.task_names)
        self.stl = config.method == "stl"
        self.spec = _spec(config, self.data.node_dim, self.data.edge_dim, len(self.tasks))
        # stl: task index -> its member's state at the task's own best epoch (see `_save`)
        self.members: dict[int, dict[str, Tensor]] = {}
        ckpt.seed_everything(config.seed)
        self.state = self._build_state()
        self.train_set = self._train_set()

    # -- construction ---------------------------------------------------------------------------
    def _build_state(self) -> _State:
        cfg, n = self.config, len(self.tasks)
        model = _build(cfg, self.data.node_dim, self.data.edge_dim, n).to(self.device)
        method = mtl.get(cfg.method, n_tasks=n, **cfg.method_options).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=cfg.lr_factor,
            patience=cfg.lr_patience,
            min_lr=cfg.min_lr,
        )
        guide = None
        if getattr(method, "uses_guidance", False) and len(self.data.guide) > 0:
            guide = GuidanceStream(self.data.guide, cfg.batch_size, cfg.seed)
        return _State(model, method, optimizer, scheduler, guide, EarlyStopping(cfg.patience))

    def _train_set(self) -> Any:
        """Primary split, plus the guidance split for baselines when the config says so."""
        uses_guide = getattr(self.state.method, "uses_guidance", False)
        if self.config.baselines_use_guidance and not uses_guide and len(self.data.guide) > 0:
            return ConcatDataset([self.data.train, self.data.guide])
        return self.data.train

    # -- the loop -------------------------------------------------------------------------------
    def run(self, resume_from: dict[str, Any] | None) -> TrialResult:
        st = self.state
        if resume_from is not None:
            st.load_state_dict(resume_from)
            if self.stl:
                self._restore_members()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.folder.write_config(self.config.model_dump(mode="json"))
        notify(self.callbacks, "on_start", self.config, self.tasks)
        notify(self.callbacks, "on_data", self.data.n_skipped, list(self.data.skipped_smiles))
        while st.epoch < self.config.epochs and not st.early.stopped:
            self._epoch(st.epoch + 1)
        result = self._result()
        notify(self.callbacks, "on_end", result)
        return result

    def _epoch(self, epoch: int) -> None:
        st = self.state
        lr = float(st.optimizer.param_groups[0]["lr"])
        t0 = time.perf_counter()
        train_loss, diag = self._train_epoch(epoch, lr)
        train_s = time.perf_counter() - t0
        st.method.on_epoch_end()
        t1 = time.perf_counter()
        metrics = {EPOCH: float(epoch), **self._evaluate()}
        eval_s = time.perf_counter() - t1
        diag_metrics, matrices = split_diagnostics(diag.means(), self.task_names)
        metrics.update({TRAIN_LOSS: train_loss, LR: lr, EPOCH_SECONDS: train_s})
        metrics.update({EVAL_SECONDS: eval_s, **diag_metrics})
        value = metrics[SELECTION_METRIC]
        st.scheduler.step(value if math.isfinite(value) else math.inf)
        improved = st.early.update(epoch, value)
        st.epoch = epoch
        st.history.append(metrics)
        st.policy.extend(policy_rows(epoch, matrices, self.task_names))
        self._save(epoch, improved)
        notify(
            self.callbacks, "on_epoch_end", EpochReport(epoch, metrics, matrices, self.task_names)
        )
        notify(self.callbacks, "on_checkpoint", self.folder.last_checkpoint, epoch)

    def _train_epoch(self, epoch: int, lr: float) -> tuple[float, EpochDiagnostics]:
        st, cfg = self.state, self.config
        st.model.train()
        diag, losses_sum, n = EpochDiagnostics(), 0.0, 0
        n_steps = n_batches(len(self.train_set), cfg.batch_size)
        batches = epoch_batches(self.train_set, cfg.batch_size, cfg.seed, epoch)
        for step, batch in enumerate(batches, start=1):
            loss = self._step(batch, epoch, step, lr, diag)
            losses_sum, n = losses_sum + loss, n + 1
            notify(self.callbacks, "on_step_end", epoch, step, n_steps)
        return losses_sum / max(n, 1), diag

    def _step(self, batch: Any, epoch: int, step: int, lr: float, diag: EpochDiagnostics) -> float:
        st, cfg = self.state, self.config
        batch = batch.to(self.device)
        target = (batch.y - self.mean) / self.std  # [B, T]
        z = st.model.encode(batch)  # [B, H]
        pred = st.model.predict_from(z)  # [B, T]
        losses, present = masked_task_losses(pred, target, batch.y_mask, cfg.loss)  # [T], [T]
        check_finite(losses, self.task_names, epoch, step)
        st.optimizer.zero_grad(set_to_none=True)
        named = st.model.shared_named_parameters()
        st.step += 1
        inputs = mtl.StepInputs(
            losses=losses,
            present=present,
            shared_params=[p for _, p in named],
            head_params=st.model.task_parameters(),
            representation=z,
            guide_losses=self._guide_fn() if st.guide is not None else None,
            shared_param_names=[k for k, _ in named],
            lr=lr,
            diagnose=cfg.diagnose_every > 0 and st.step % cfg.diagnose_every == 0,
        )
        diag.add(st.method.backward(inputs))
        st.optimizer.step()
        if st.method.needs_losses_after_step:
            st.method.after_step(self._losses_after_step(batch, target))
        return float(losses.detach()[present].mean()) if bool(present.any()) else 0.0

    def _losses_after_step(self, batch: Any, target: Tensor) -> Tensor:
        """The same batch's per-task losses [T] under the stepped model (FAMO), no graph.

        The model stays in training mode, as in FAMO's code: a dropout layer draws a new mask.
        """
        with torch.no_grad():
            pred = self.state.model(batch)  # [B, T]
        return masked_task_losses(pred, target, batch.y_mask, self.config.loss)[0]

    def _guide_fn(self) -> Callable[[dict[str, Tensor] | None], Tensor]:
        """Per-task losses on the next guidance batch, optionally with overridden parameters."""
        assert self.state.guide is not None
        batch = self.state.guide.next().to(self.device)
        target = (batch.y - self.mean) / self.std  # [B, T]
        model, kind = self.state.model, self.config.loss

        def guide_losses(override: dict[str, Tensor] | None = None) -> Tensor:
            pred = model(batch) if not override else functional_call(model, override, (batch,))
            return masked_task_losses(pred, target, batch.y_mask, kind)[0]  # [T]

        return guide_losses

    def _evaluate(self) -> dict[str, float]:
        out: dict[str, float] = {}
        std = self.std.double().cpu().numpy()
        sets = {"train": self.data.train, "val": self.data.val, "test": self.data.test}
        for split, dataset in sets.items():
            bs = self.config.eval_batch_size
            batches = epoch_batches(dataset, bs, 0, 0, shuffle=False)
            abs_sum, count = absolute_errors(
                self.state.model, batches, self.mean, self.std, self.device
            )
            out.update(split_metrics(split, abs_sum, count, std, self.task_names, self.factors))
        if self.config.stl_reference:
            out[DELTA_M_METRIC] = delta_m(out, self.config.stl_reference)
        return out

    # -- saving and the result ------------------------------------------------------------------
    def _save(self, epoch: int, improved: bool) -> None:
        """best.pt before last.pt: a crash between the two then reruns an epoch whose best model
        is already saved, never resumes past a best model that was not."""
        st = self.state
        members_changed = self._keep_members(epoch) if self.stl else False
        if improved or members_changed:
            ckpt.save_atomic(self._best_state(), self.folder.best_checkpoint)
        ckpt.save_atomic(st.state_dict(self.config), self.folder.last_checkpoint)
        self.folder.write_metrics(st.history)
        self.folder.write_policy(st.policy)

    def _best_state(self) -> dict[str, Any]:
        """best.pt: the model of the best epoch (stl: each task's member at its own best epoch)
        with what predicting needs without the dataset."""
        st, best = self.state, self.state.early.best_epoch
        if self.stl:
            model = {f"members.{t}.{k}": v for t, sd in self.members.items() for k, v in sd.items()}
        else:
            model = st.model.state_dict()
        return ckpt.best_state(
            config=self.config.model_dump(mode="json"),
            epoch=best,
            model=model,
            spec=self.spec,
            tasks=self.tasks,
            scaler=self.data.scaler,
            featurizer=self.data.featurizer,
            metrics=next(r for r in st.history if int(r[EPOCH]) == best),
            member_epochs=self._member_epochs() if self.stl else None,
        )

    def _member_epochs(self) -> dict[str, int]:
        """The epoch of each stl task's member: the one whose val MAE `best_metrics` reports for
        the task (so its rule is the only one), the best epoch when the task has no val label."""
        st, best = self.state, self.state.early.best_epoch
        reported = best_metrics(st.history, best, self.task_names, "stl")
        epochs = {}
        for name in self.task_names:
            value = reported.get(best_key(f"val/mae/{name}"))
            rows = [r for r in st.history if r.get(f"val/mae/{name}") == value]
            epochs[name] = int(rows[0][EPOCH]) if rows else best
        return epochs

    def _keep_members(self, epoch: int) -> bool:
        """Copy the members whose task is now best at `epoch`; True when any was copied."""
        members = self.state.model.members
        chosen = self._member_epochs()
        kept = [t for t, name in enumerate(self.task_names) if chosen[name] == epoch]
        for t in kept:
            self.members[t] = {k: v.detach().clone() for k, v in members[t].state_dict().items()}
        return bool(kept)

    def _restore_members(self) -> None:
        """A resumed stl trial takes the members kept so far back from its best.pt."""
        saved = ckpt.load(self.folder.best_checkpoint)["model"]
        for t in range(len(self.tasks)):
            prefix = f"members.{t}."
            kept = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
            self.members[t] = {k: v.to(self.device) for k, v in kept.items()}

    def _result(self) -> TrialResult:
        st = self.state
        best = st.early.best_epoch
        metrics = best_metrics(st.history, best, self.task_names, self.config.method)
        return TrialResult(
            best_epoch=best,
            metrics=metrics,
            history=list(st.history),
            workdir=self.workdir,
            task_names=self.task_names,
            stopped_early=st.early.stopped,
        )


def _spec(config: TrialConfig, node_dim: int, edge_dim: int, n_tasks: int) -> dict[str, Any]:
    """How the trial's model is built (saved in best.pt, so it can be rebuilt without data)."""
    stl = config.method == "stl"
    return ckpt.model_spec(config.model, config.model_options, node_dim, edge_dim, n_tasks, stl)


def _build(config: TrialConfig, node_dim: int, edge_dim: int, n_tasks: int) -> MultiTaskModel:
    """The model of the trial: one multi-task backbone, or one backbone per task for `stl`."""
    return ckpt.build(_spec(config, node_dim, edge_dim, n_tasks))


def _as_tensor(value: Any) -> Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def _check_resumable(saved: dict[str, Any], config: TrialConfig, path: Path) -> None:
    """A checkpoint only continues the same trial: other fields must be unchanged."""
    now = config.model_dump(mode="json")
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved["config"].get(k) != now[k])
    if diff:
        raise ValueError(
            f"{path}: checkpoint was written by a different trial config (fields {diff} differ);"
            " use another workdir"
        )


def run_trial(
    config: TrialConfig | dict[str, Any],
    workdir: Path | str,
    callbacks: Sequence[Any] = (),
) -> TrialResult:
    """Train one trial into `workdir` (a `TrialFolder`); resume from its last checkpoint.

    A resumed trial continues exactly as the uninterrupted one would (same data order, RNG
    states, optimizer and scheduler states, early-stopping counters). Raises ValueError for bad
    config before any data are loaded, NonFiniteLossError when a loss becomes NaN/inf. A
    reference method (`aimstudy.reference`) is fitted once instead (`run_reference_trial`).
    """
    if not isinstance(config, TrialConfig):
        config = TrialConfig.model_validate(config)
    workdir = Path(workdir)
    validate_config(config)
    torch.set_num_threads(config.threads)
    keep_freed_memory()
    last = TrialFolder(workdir).last_checkpoint
    saved = ckpt.load(last) if last.exists() else None
    if saved is not None:
        _check_resumable(saved, config, last)
    if is_reference(config.method):  # a GNN checkpoint above is another trial: refused
        return run_reference_trial(config, workdir, callbacks)
    return _Trial(config, workdir, callbacks).run(saved)
