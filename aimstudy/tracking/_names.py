"""The names of a study's MLflow layout (docs/architecture.md): tags, params, artifact paths.

Every writer (the trial callback, the driver's launch records) and every reader (analysis, the
tests' synthetic studies) imports them from here, so a name changes in one place.
"""

from __future__ import annotations

from aimstudy.train import BEST_CHECKPOINT, CONFIG_FILE, METRICS_FILE, POLICY_FILE

# -- tags ---------------------------------------------------------------------------------------
PARENT_TAG = "mlflow.parentRunId"  # a trial run's launch (MLflow nests runs by it)
RUN_NAME_TAG = "mlflow.runName"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # read by the MLflow 3 UI
EXPERIMENT_KIND = "custom_model_development"  # open the experiment on runs, not GenAI traces
ROLE_TAG = "aimstudy.role"
STUDY_ROLE = "study"  # ROLE_TAG of a launch's parent run
TRIAL_ROLE = "trial"  # ROLE_TAG of a trial's child run
STUDY_TAG = "aimstudy.study"
TRIAL_TAG = "aimstudy.trial_id"
ERROR_TAG = "aimstudy.error"  # why a run FAILED
ATTEMPTS_TAG = "aimstudy.attempts"
PID_TAG = "aimstudy.pid"
HOST_TAG = "host"
NODE_TAG = "aimstudy.node_id"  # the Ray node that ran the trial
RAY_TRIAL_TAG = "ray.trial_name"
STOPPED_EARLY_TAG = "aimstudy.stopped_early"
STOPPED_BY_TAG = "aimstudy.stopped_by"
STOPPED_BY_SCHEDULER = "scheduler"  # STOPPED_BY_TAG of a trial ASHA stopped
INTERRUPTED_TAG = "aimstudy.interrupted_at_epoch"  # a KILLED run's last epoch (Ctrl-C)
N_FAILED_TAG = "aimstudy.n_failed"  # on the parent run
SKIPPED_COUNT_TAG = "aimstudy.skipped_smiles"  # on the parent run: SMILES the data could not use
SKIPPED_FIRST_TAG = "aimstudy.skipped_smiles_first"  # the first few of them (JSON)
DESCRIPTION_TAG = "mlflow.note.content"  # the study's description, on its experiment and launches
# Provenance (on the parent run and every trial run); MLflow's UI shows its own git tag.
VERSION_TAG = "aimstudy.version"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
VERSIONS_PREFIX = "versions."  # + a library's distribution name: versions.torch = 2.13.0
DEVICE_TAG = "aimstudy.device"  # where a trial trained (cpu, cuda:0 (NVIDIA ...)); parent: asked
# Linking an Optuna search and MLflow: a trial run's Optuna trial (number, study) and, on the
# Optuna trial, its MLflow run and Tune trial (user attributes).
OPTUNA_TRIAL_TAG = "optuna.trial_number"
OPTUNA_STUDY_TAG = "optuna.study_name"
MLFLOW_RUN_ATTR = "mlflow_run_id"
TUNE_TRIAL_ATTR = "tune_trial_id"
MAX_TAG_LENGTH = 5000

MLFLOW_DB = "mlflow.db"  # the default store: a SQLite file in the study's output folder

# -- params of a launch's parent run ------------------------------------------------------------
N_TRIALS_PARAM = "n_trials"
SEARCH_PARAM = "search"
GRID_PARAM = "grid"  # the spec's grid as JSON
MAX_PARAM_LENGTH = 6000  # MLflow rejects longer param values (characters)

# -- artifact paths -----------------------------------------------------------------------------
STUDY_ARTIFACT = "study.yaml"  # the resolved study spec, on the parent run
CONFIG_ARTIFACT = CONFIG_FILE  # the resolved trial config, at a trial run's root
POLICY_DIR = "policy"
POLICY_ARTIFACT = f"{POLICY_DIR}/{POLICY_FILE}"
# Heatmaps are MLflow image series (`log_image(key=..., step=epoch)`): one key per matrix.
HEATMAP_KEY = "policy/{matrix}"  # .format(matrix="tau"); MLflow stores them under images/
TASK_TABLE_ARTIFACT = "results/tasks.json"  # per-task val/test MAE at the best epoch (log_table)
CHECKPOINT_DIR = "checkpoint"
REPORT_DIR = "report"  # the analysis report, on the latest parent run
# Trial-folder files uploaded when a trial ends -> their artifact folder ("" = the run's root).
# config.yaml is not among them: the callback logs it when the trial starts.
TRIAL_ARTIFACTS = {METRICS_FILE: "", POLICY_FILE: POLICY_DIR, BEST_CHECKPOINT: CHECKPOINT_DIR}
