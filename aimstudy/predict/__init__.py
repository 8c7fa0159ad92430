"""Predict with a trained trial: its best checkpoint, SMILES featurized as in training, batched
inference, predictions in the units the trainer reports its metrics in.

```python
from aimstudy.predict import Predictor, predict_table, read_table
predictor = Predictor.load("runs/t1/checkpoints/best.pt")
table = predict_table(predictor, read_table("molecules.csv"))  # input columns + tasks + error
```
No dataset is needed: `best.pt` holds the model, tasks, units, scaler and featurizer.
`load_predictor(path)` loads any trial's `best.pt`: a GNN's as `Predictor`, a reference model's
(`fingerprint-rf`) as `ReferencePredictor`, with the same surface.
"""

from __future__ import annotations

from aimstudy.predict._load import AnyPredictor, load_predictor
from aimstudy.predict._predictor import DEFAULT_BATCH_SIZE, ERROR_COLUMN, Predictor
from aimstudy.predict._reference import ReferencePredictor
from aimstudy.predict._tables import (
    DEFAULT_SMILES_COLUMN,
    predict_table,
    read_table,
    table_format,
    write_table,
)

__all__ = [
    "AnyPredictor",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SMILES_COLUMN",
    "ERROR_COLUMN",
    "Predictor",
    "ReferencePredictor",
    "load_predictor",
    "predict_table",
    "read_table",
    "table_format",
    "write_table",
]
