"""Budgeted rank search with keras-tuner, every trial tracked in MLflow.

>>> import keras_tensor_rnn as ktr
>>> result = ktr.search.run("quickstart")  # doctest: +SKIP

On your own model: :func:`recurrent` inside your ``build_model(hp)``, then
``run(build_model, x=..., y=..., validation_data=..., budget=...)``.

Pieces: :class:`SearchSpace` (a spec's model template, the budget,
closed-form parameter counts), :class:`SearchHyperModel` (what the tuner
asks of a hypermodel) and :class:`TensorizedRNNHyperModel`,
:class:`ModelBudget` (the budget of your own model), the budget oracles
(:func:`make_oracle`, over the :class:`~keras_tensor_rnn.search.budget.BudgetSpace`
both spaces implement), :class:`SearchTuner` (training in ``tuner``, MLflow
tracking through keras-tuner's hooks in ``tracking``, console lines in
``reporting``, the front and the best model in ``results``),
:mod:`objectives` (what a search trades off) and :func:`pareto_front`.
"""

from keras_tensor_rnn.search import objectives
from keras_tensor_rnn.search.budget import BudgetSpace
from keras_tensor_rnn.search.hypermodel import SearchHyperModel, TensorizedRNNHyperModel
from keras_tensor_rnn.search.oracle import (
    BudgetBayesianOptimizationOracle,
    BudgetHyperbandOracle,
    BudgetMixin,
    BudgetRandomSearchOracle,
    make_oracle,
)
from keras_tensor_rnn.search.own_model import (
    ModelBudget,
    OwnModelHyperModel,
    recurrent,
    recurrent_layers,
)
from keras_tensor_rnn.search.pareto import format_table, pareto_front, plot_front
from keras_tensor_rnn.search.reporting import ConsoleReporter
from keras_tensor_rnn.search.results import SearchResult
from keras_tensor_rnn.search.runner import run
from keras_tensor_rnn.search.space import SearchSpace, valid_decompositions
from keras_tensor_rnn.search.spec import load_spec, shipped_specs
from keras_tensor_rnn.search.tracking import MLflowTrackingMixin, connect
from keras_tensor_rnn.search.tuner import RecurrentModelTuner, SearchTuner, measure_latency_ms

__all__ = [
    "run", "recurrent", "recurrent_layers", "OwnModelHyperModel", "ModelBudget", "load_spec",
    "shipped_specs", "BudgetSpace", "SearchSpace", "valid_decompositions", "SearchHyperModel",
    "TensorizedRNNHyperModel",
    "BudgetMixin", "BudgetRandomSearchOracle", "BudgetBayesianOptimizationOracle",
    "BudgetHyperbandOracle", "make_oracle", "RecurrentModelTuner", "MLflowTrackingMixin",
    "ConsoleReporter",
    "SearchTuner", "SearchResult", "pareto_front", "format_table", "plot_front",
    "measure_latency_ms", "connect", "objectives",
]
