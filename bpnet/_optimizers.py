"""SGD and Adam: the state each carries between epochs, its schedule and its kernel options.

The epoch kernel (``_sgd_fast.train_epoch``) does the arithmetic of every update; an
optimizer object here holds what must survive from one epoch, or one ``partial_fit``
call, to the next, and decides what changes between epochs. The training loop asks it
instead of knowing either solver's details.
"""

import numpy as np

from ._sgd_fast import SOLVER_CODES, Schedule

# The estimator parameters an optimizer reads, under the estimator's own names (so
# settings["learning_rate"] is the schedule's name; the attribute learning_rate is the
# current rate).
OPTIMIZER_PARAMETERS = (
    "learning_rate_init",
    "learning_rate",
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
    learning_rate : float
        The current learning rate: SGD's, changed by its schedule, or Adam's initial one.
    """

    solver = None
    # Names of the state arrays and scalars that snapshot and restore carry, and the
    # bpnet 0.1 attribute each one was saved under.
    _STATE_ARRAYS = {}
    _STATE_SCALARS = {"learning_rate": "learning_rate"}

    def __init__(self, n_params, dtype, settings):
        self.configure(settings)
        self.learning_rate = float(settings["learning_rate_init"])
        for name in self._STATE_ARRAYS:
            setattr(self, name, np.zeros(n_params, dtype=dtype))

    def configure(self, settings):
        """Take the estimator's current parameters; the state (moments, rate) is kept.

        A partial_fit that continues this optimizer calls it first, so that parameters
        changed with ``set_params`` since the last call apply to the next epochs.
        """
        self.settings = {name: settings[name] for name in OPTIMIZER_PARAMETERS}

    def matches(self, solver, n_params, dtype):
        """Whether this state can continue training with ``solver`` on these parameters."""
        arrays = [getattr(self, name) for name in self._STATE_ARRAYS]
        return self.solver == solver and all(
            array.shape == (n_params,) and array.dtype == dtype for array in arrays
        )

    def kernel_options(self):
        """This optimizer's fields of the epoch kernel's options.

        The kernel reads one options struct whatever the solver and ignores the other
        solver's fields; they carry the estimator's values.
        """
        settings = self.settings
        return {
            "solver": SOLVER_CODES[self.solver],
            "learning_rate": self.learning_rate,
            "momentum": float(settings["momentum"]),
            "nesterov": bool(settings["nesterovs_momentum"]),
            "beta_1": float(settings["beta_1"]),
            "beta_2": float(settings["beta_2"]),
            "epsilon": float(settings["epsilon"]),
            "adam_steps": self._kernel_steps(),
        }

    def kernel_moments(self):
        """The ``moment_1`` and ``moment_2`` arrays the kernel updates in place."""
        raise NotImplementedError

    def _kernel_steps(self):
        return 0

    def record_epoch(self, result):
        """Take back what the kernel's epoch result says about this optimizer's state."""

    def schedule_options(self):
        """The schedule's fields of train_epochs' run options, which applies it in C
        after each epoch exactly as ``iteration_ends`` and ``trigger_stopping`` do."""
        return {"schedule": Schedule.CONSTANT, "learning_rate_init": 0.0, "power_t": 0.0}

    def record_epochs(self, result):
        """Take back the state after train_epochs' run of several epochs."""
        self.record_epoch(result)

    def iteration_ends(self, time_step):
        """Apply the learning-rate schedule after an epoch.

        Parameters
        ----------
        time_step : int
            Number of training samples seen so far (the estimator's ``t_``).
        """

    def trigger_stopping(self, msg, verbose):
        """Whether to stop once the loss or score stopped improving; ``msg`` says which."""
        if verbose:
            print(msg + " Stopping.")
        return True

    def snapshot(self, into=None):
        """A copy of the state, written into an earlier snapshot ``into`` if given."""
        if into is None:
            into = {name: np.empty_like(getattr(self, name)) for name in self._STATE_ARRAYS}
        for name in self._STATE_ARRAYS:
            np.copyto(into[name], getattr(self, name))
        for name in self._STATE_SCALARS:
            into[name] = getattr(self, name)
        return into

    def restore(self, snapshot):
        """Go back to the state of ``snapshot``; the arrays are overwritten in place."""
        for name in self._STATE_ARRAYS:
            np.copyto(getattr(self, name), snapshot[name])
        for name in self._STATE_SCALARS:
            setattr(self, name, snapshot[name])

    @classmethod
    def from_legacy_state(cls, legacy, settings):
        """The optimizer holding the state bpnet 0.1 saved in ``legacy``.

        ``legacy`` has the attributes ``moment_1``, ``moment_2`` (SGD's velocity or
        Adam's two moments), ``learning_rate`` and ``adam_steps``.
        """
        names = {**cls._STATE_ARRAYS, **cls._STATE_SCALARS}
        optimizer = cls(legacy.moment_1.shape[0], legacy.moment_1.dtype, settings)
        optimizer.restore({name: getattr(legacy, old) for name, old in names.items()})
        return optimizer


class SGD(StochasticOptimizer):
    """Minibatch gradient descent with (Nesterov's) momentum and a learning-rate schedule.

    The schedule is the estimator's ``learning_rate``: 'constant'; 'invscaling', which
    sets the rate to ``learning_rate_init / (t + 1) ** power_t`` after each epoch;
    'adaptive', which divides it by 5 each time the loss or score stops improving,
    until it is 1e-6 or less.

    Attributes
    ----------
    velocity : ndarray of shape (n_params,)
        The momentum term.
    """

    solver = "sgd"
    _STATE_ARRAYS = {"velocity": "moment_1"}

    def kernel_moments(self):
        # The kernel's second moment is Adam's; SGD passes an empty array in its place.
        return self.velocity, self.velocity[:0]

    def schedule_options(self):
        settings = self.settings
        schedule = {"invscaling": Schedule.INVSCALING, "adaptive": Schedule.ADAPTIVE}
        return {
            "schedule": schedule.get(settings["learning_rate"], Schedule.CONSTANT),
            "learning_rate_init": float(settings["learning_rate_init"]),
            "power_t": float(settings["power_t"]),
        }

    def record_epochs(self, result):
        self.learning_rate = result["learning_rate"]

    def iteration_ends(self, time_step):
        settings = self.settings
        if settings["learning_rate"] == "invscaling":
            self.learning_rate = (
                settings["learning_rate_init"] / (time_step + 1) ** settings["power_t"]
            )

    def trigger_stopping(self, msg, verbose):
        if self.settings["learning_rate"] != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False


class Adam(StochasticOptimizer):
    """Kingma and Ba's Adam.

    Attributes
    ----------
    first_moment, second_moment : ndarray of shape (n_params,)
        Running averages of the gradient and of its square.

    steps : int
        Number of updates made, which sets the bias correction.
    """

    solver = "adam"
    _STATE_ARRAYS = {"first_moment": "moment_1", "second_moment": "moment_2"}
    _STATE_SCALARS = {"learning_rate": "learning_rate", "steps": "adam_steps"}

    def __init__(self, n_params, dtype, settings):
        super().__init__(n_params, dtype, settings)
        self.steps = 0

    def kernel_moments(self):
        return self.first_moment, self.second_moment

    def _kernel_steps(self):
        return self.steps

    def record_epoch(self, result):
        self.steps = result["adam_steps"]


OPTIMIZERS = {optimizer.solver: optimizer for optimizer in (SGD, Adam)}
