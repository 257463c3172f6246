"""SGD and Adam: the state each carries between epochs, and what it asks of the kernels.

The epoch kernel (``_sgd_fast.train_epochs``) does the arithmetic of every update, and
applies the rules between epochs (the stopping rule, the learning-rate schedule) in its
``end_epoch``; an optimizer object here holds what must survive from one fit or
``partial_fit`` call to the next (its moments, its rate and step count) and says which
update and which schedule the kernel applies. The training loop asks it instead of
knowing either solver's details.
"""

import numpy as np

from ._rules import MLP_SCHEDULES, SCHEDULES, Schedule
from ._sgd_fast import SOLVER_CODES

# The estimator parameters an optimizer reads, under the estimator's own names (so
# settings["learning_rate"] is the schedule's name; the attribute learning_rate is the
# current rate).
OPTIMIZER_PARAMETERS = (
    "learning_rate_init",
    "learning_rate",
    "learning_rate_schedule",
    "warmup_iter",
    "max_iter",
    "power_t",
    "momentum",
    "nesterovs_momentum",
    "beta_1",
    "beta_2",
    "epsilon",
)


class StochasticOptimizer:
    """Base class of the minibatch optimizers.

    Parameters
    ----------
    n_params : int
        Length of the network's flat parameter vector.

    dtype : dtype
        The parameters' floating dtype; the moments use the same.

    settings : dict
        The estimator's values of ``OPTIMIZER_PARAMETERS``.

    Attributes
    ----------
    moment_1, moment_2 : ndarray of shape (n_params,) or (0,)
        The optimizer's state arrays, which the kernel updates in place: SGD's velocity
        (its moment_2 is empty), or Adam's running means of the gradient and of its
        square.

    learning_rate : float
        The rate of the next epoch: SGD's, as its schedule leaves it, or Adam's.

    adam_steps : int
        Adam's updates so far, which set its bias correction; 0 for SGD.
    """

    solver = None
    n_moments = 0

    def __init__(self, n_params, dtype, settings):
        self.configure(settings)
        self.learning_rate = float(settings["learning_rate_init"])
        self.adam_steps = 0
        self.moment_1 = np.zeros(n_params, dtype=dtype)
        self.moment_2 = np.zeros(n_params if self.n_moments == 2 else 0, dtype=dtype)

    def configure(self, settings):
        """Take the estimator's current parameters; the state (moments, rate) is kept.

        A partial_fit that continues this optimizer calls it first, so that parameters
        changed with ``set_params`` since the last call apply to the next epochs.
        """
        self.settings = {name: settings[name] for name in OPTIMIZER_PARAMETERS}

    def matches(self, solver, n_params, dtype):
        """Whether this state can continue training with ``solver`` on these parameters."""
        return (
            self.solver == solver
            and self.moment_1.shape == (n_params,)
            and self.moment_1.dtype == dtype
        )

    def kernel_moments(self):
        """The ``moment_1`` and ``moment_2`` arrays the kernel updates in place."""
        return self.moment_1, self.moment_2

    def kernel_options(self):
        """This optimizer's fields of the epoch kernel's options.

        The kernel reads one options struct whatever the solver and ignores the other
        solver's fields; they carry the estimator's values.
        """
        settings = self.settings
        return {
            "solver": SOLVER_CODES[self.solver],
            "momentum": float(settings["momentum"]),
            "nesterov": bool(settings["nesterovs_momentum"]),
            "beta_1": float(settings["beta_1"]),
            "beta_2": float(settings["beta_2"]),
            "epsilon": float(settings["epsilon"]),
        }

    def schedule(self):
        """The learning-rate schedule the kernel applies (_rules.pxd): the fields of its
        loop state that say which, and with what settings.

        ``learning_rate_schedule`` when set, for either solver; otherwise MLP's own rule
        (``_mlp_schedule``). A cosine or one-cycle schedule spans ``max_iter`` epochs;
        ``warmup_iter`` epochs of linear warm-up come first.
        """
        settings = self.settings
        name = settings["learning_rate_schedule"]
        return {
            "schedule": SCHEDULES[name] if name is not None else self._mlp_schedule(),
            "learning_rate_init": float(settings["learning_rate_init"]),
            "power_t": float(settings["power_t"]),
            "horizon": int(settings["max_iter"]),
            "warmup": int(settings["warmup_iter"]),
        }

    def _mlp_schedule(self):
        """MLP's rule: a constant rate (Adam ignores learning_rate in MLP)."""
        return Schedule.CONSTANT

    def snapshot(self, into=None):
        """A copy of the state, written into an earlier snapshot ``into`` if given."""
        if into is None:
            into = {"moment_1": np.empty_like(self.moment_1),
                    "moment_2": np.empty_like(self.moment_2)}  # fmt: skip
        np.copyto(into["moment_1"], self.moment_1)
        np.copyto(into["moment_2"], self.moment_2)
        into["learning_rate"], into["adam_steps"] = self.learning_rate, self.adam_steps
        return into

    def restore(self, snapshot):
        """Go back to the state of ``snapshot``; the arrays are overwritten in place."""
        np.copyto(self.moment_1, snapshot["moment_1"])
        np.copyto(self.moment_2, snapshot["moment_2"])
        self.learning_rate, self.adam_steps = snapshot["learning_rate"], snapshot["adam_steps"]

    @classmethod
    def from_legacy_state(cls, legacy, settings):
        """The optimizer holding the state bpnet 0.1 saved in ``legacy``.

        ``legacy`` has the attributes ``moment_1``, ``moment_2`` (SGD's velocity, or
        Adam's two moments), ``learning_rate`` and ``adam_steps``, as this class does.
        """
        optimizer = cls(legacy.moment_1.shape[0], legacy.moment_1.dtype, settings)
        optimizer.restore({name: getattr(legacy, name) for name in
                           ("moment_1", "moment_2", "learning_rate", "adam_steps")})  # fmt: skip
        return optimizer


class SGD(StochasticOptimizer):
    """Minibatch gradient descent with (Nesterov's) momentum and a learning-rate schedule.

    The schedule is the estimator's ``learning_rate``: 'constant'; 'invscaling', which
    sets the rate to ``learning_rate_init / (t + 1) ** power_t`` after each epoch;
    'adaptive', which divides it by 5 each time the loss or score stops improving,
    until it is 1e-6 or less. ``moment_1`` is the velocity.
    """

    solver = "sgd"
    n_moments = 1

    def _mlp_schedule(self):
        return MLP_SCHEDULES[self.settings["learning_rate"]]


class Adam(StochasticOptimizer):
    """Kingma and Ba's Adam; ``moment_1`` and ``moment_2`` are the running means of the
    gradient and of its square, ``adam_steps`` the updates made."""

    solver = "adam"
    n_moments = 2


OPTIMIZERS = {optimizer.solver: optimizer for optimizer in (SGD, Adam)}
