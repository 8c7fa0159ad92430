"""The code of a trial's MLflow model ("models from code": MLflow runs this file to load it,
instead of unpickling an object), so the model is `TrialModel` of the installed aimstudy."""

from mlflow.models import set_model

from aimstudy.tracking._model import TrialModel

set_model(TrialModel())
