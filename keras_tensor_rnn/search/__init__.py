"""Budgeted rank search with keras-tuner, every trial tracked in MLflow.

>>> import keras_tensor_rnn as ktr
>>> result = ktr.search.run("quickstart")  # doctest: +SKIP

On your own model: :func:`recurrent` inside your ``build_model(hp)``, then
``run(build_model, x=..., y=..., validation_data=..., budget=...)``.

Pieces: :func:`recurrent` (a layer whose weights the search chooses, in
any ``build_model(hp)``), :class:`SearchSpace` (a spec's model template as a
``build_model(hp)``, the budget, closed-form parameter counts),
:class:`SearchHyperModel` (what the tuner asks of a hypermodel) and its one
implementation :class:`OwnModelHyperModel` (:class:`TensorizedRNNHyperModel`
for a spec's template), :class:`ModelBudget` (the budget of your own model,
counted by building it), the budget oracles
(:func:`make_oracle`, over the :class:`~keras_tensor_rnn.search.budget.BudgetSpace`
both spaces implement), :class:`SearchTuner` (training in ``tuner``, MLflow
tracking through keras-tuner's hooks in ``tracking``, console lines in
``reporting``, the front and the best model in ``results``),
:mod:`objectives` (what a search trades off) and :func:`pareto_front`.
"""

from keras_tensor_rnn.search import objectives
from keras_tensor_rnn.search.budget import BudgetSpace
from keras_tensor_rnn.search.hypermodel import (
    OwnModelHyperModel,
    SearchHyperModel,
    TensorizedRNNHyperModel,
)
from keras_tensor_rnn.search.oracle import (
    BudgetBayesianOptimizationOracle,
    BudgetHyperbandOracle,
    BudgetMixin,
    BudgetRandomSearchOracle,
    make_oracle,
)
from keras_tensor_rnn.search.own_model import ModelBudget
from keras_tensor_rnn.search.pareto import format_table, pareto_front, plot_front
from keras_tensor_rnn.search.reporting import ConsoleReporter
from keras_tensor_rnn.search.results import SearchResult
from keras_tensor_rnn.search.runner import run
from keras_tensor_rnn.search.space import SearchSpace, valid_decompositions
from keras_tensor_rnn.search.spec import load_spec, shipped_specs
from keras_tensor_rnn.search.tracking import MLflowTrackingMixin, connect
from keras_tensor_rnn.search.tuned_layers import recurrent, recurrent_layers
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
