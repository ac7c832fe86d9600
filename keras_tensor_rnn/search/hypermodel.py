"""The search's keras-tuner HyperModels: the interface the tuner relies on,
and the spec's model template (the space as hyperparameters, and the model)."""

from __future__ import annotations

import abc

import keras
import keras_tuner

from keras_tensor_rnn.search.budget import SHARED_STEP
from keras_tensor_rnn.search.space import SearchSpace, log_uniform_bounds


class SearchHyperModel(keras_tuner.HyperModel, abc.ABC):
    """What the search's tuner asks of a hypermodel besides ``build(hp)``.

    It declares its whole space, conditional hyperparameters included, so
    the tuner builds no model outside a trial (keras-tuner would build
    models to discover conditional hyperparameters), and it says what a
    trial tried and measured, for the trial's MLflow run.
    """

    @abc.abstractmethod
    def declare_hyperparameters(self, hp):
        """Declare every hyperparameter of the space on ``hp``."""

    @abc.abstractmethod
    def active_values(self, hp) -> dict:
        """``{name: value}`` of the hyperparameters a trial's model is built from."""

    @abc.abstractmethod
    def measure(self, model, values: dict) -> dict:
        """``recurrent_params``, ``compression`` and ``recurrent_compression``
        of a trial's model (see ``tracking.METRICS``)."""

    @abc.abstractmethod
    def describe(self, values: dict) -> dict:
        """Extra MLflow params of a trial: what its hyperparameters turned into
        (resolved ranks and modes), or ``{}``."""


class TensorizedRNNHyperModel(SearchHyperModel):
    """Classifier over a :class:`SearchSpace`: optional embedding, stacked
    tensorized (or restricted, or dense) recurrent layers, a linear head.

    Hyperparameters: ``decomposition`` (Choice); ``d`` and ``rank`` (or
    ``rank_<layer>``), conditional on the decompositions with a rank;
    ``shared``, conditional on those with a sharing fraction (restricted); ``units`` (Choice); ``learning_rate``
    (log-uniform).

    Example:

    >>> space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=20000)
    >>> hypermodel = TensorizedRNNHyperModel(space)
    >>> model = hypermodel.build(keras_tuner.HyperParameters())  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.space = space

    def declare_hyperparameters(self, hp) -> dict:
        """Declare the whole space on ``hp``; return the active values."""
        space = self.space
        values = {"decomposition": hp.Choice("decomposition", space.decompositions)}
        if space.factorized:
            # "d" first, in the same scope as the ranks when every factorized
            # choice has modes: the order a project saved by 0.4 resumes with.
            if space.moded:
                with hp.conditional_scope("decomposition", space.moded):
                    d = hp.Choice("d", space.d_choices)
                if values["decomposition"] in space.moded:
                    values["d"] = d
            with hp.conditional_scope("decomposition", space.factorized):
                ranks = {name: hp.Int(name, *space.rank_range) for name in space.rank_names()}
            if values["decomposition"] in space.factorized:
                values.update(ranks)
        if space.shared:
            with hp.conditional_scope("decomposition", space.shared):
                shared = hp.Float("shared", 0.0, 1.0, step=SHARED_STEP)
            if values["decomposition"] in space.shared:
                values["shared"] = shared
        values["units"] = hp.Choice("units", space.units_choices)
        lo, hi = log_uniform_bounds(space.learning_rate_range)
        values["learning_rate"] = hp.Float("learning_rate", lo, hi, sampling="log")
        return values

    def build(self, hp):
        values = self.declare_hyperparameters(hp)
        if not self.space.fits(values):
            # Only reachable with an oracle that does not repair: refuse to
            # build rather than train an over-budget model.
            raise keras_tuner.errors.FailedTrialError(
                f"Configuration {values} does not fit the budget of {self.space.budget} "
                "parameters; use a ktr budget oracle to sample feasible points only."
            )
        return self.build_model(values)

    def active_values(self, hp) -> dict:
        """The hyperparameter values a trial's model is built from."""
        return self.declare_hyperparameters(hp.copy())

    def measure(self, model, values: dict) -> dict:
        """Counts and compression of a configuration (see ``tracking.METRICS``)."""
        space = self.space
        recurrent = space.count_params(values, scope="recurrent")
        dense = space.dense_equivalent(values)
        return {"recurrent_params": float(recurrent),
                "compression": space.count_params(dense, scope="model") / model.count_params(),
                "recurrent_compression": space.count_params(dense, scope="recurrent") / recurrent}

    def describe(self, values: dict) -> dict:
        """The resolved ranks and modes of the first recurrent layer (what the
        hyperparameters turned into), for the trial's MLflow params."""
        try:
            layer = self.space.recurrent_layers(values)[0]
        except (ValueError, KeyError):
            return {}
        return layer.describe_weights(self.space.feature_width)

    def build_model(self, values: dict) -> keras.Model:
        """The compiled Keras model of a configuration."""
        space = self.space
        inputs = keras.Input(space.input_shape, dtype="int32" if len(space.input_shape) == 1 else None)
        x = inputs
        if len(space.input_shape) == 1:
            x = keras.layers.Embedding(space.vocab_size, space.embedding_dim, mask_zero=True)(x)
        for layer in space.recurrent_layers(values):
            x = layer(x)
        outputs = keras.layers.Dense(space.num_classes)(x)  # per step too, for "per_step"
        model = keras.Model(inputs, outputs)
        if space.task == "regression":
            loss, metrics = keras.losses.MeanSquaredError(), ["mae"]
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            metrics = ["accuracy"] + ([Perplexity()] if space.task == "per_step" else [])
        model.compile(optimizer=keras.optimizers.Adam(values["learning_rate"]), loss=loss,
                      metrics=metrics)
        return model


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class Perplexity(keras.metrics.Mean):
    """A language model's perplexity: ``exp`` of the mean sparse categorical
    cross-entropy over every step (``y_pred`` are logits unless
    ``from_logits=False``). Logged as ``perplexity`` / ``val_perplexity``
    (minimised as an objective)."""

    def __init__(self, name="perplexity", from_logits=True, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred,
                                                             from_logits=self.from_logits)
        return super().update_state(loss, sample_weight=sample_weight)

    def result(self):
        return keras.ops.exp(super().result())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
