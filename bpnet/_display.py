"""LossCurveDisplay: the training loss, the validation curve and the epoch kept."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["LossCurveDisplay"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "LossCurveDisplay needs matplotlib: install it with pip install 'bpnet[matplotlib]'."
        ) from error
    return plt


def _network(estimator):
    """The network whose curves a display draws: the final step of a Pipeline, the
    fitted regressor of a TransformedTargetRegressor, or the estimator itself."""
    while True:
        if hasattr(estimator, "steps") and estimator.steps:
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "regressor_"):
            estimator = estimator.regressor_
        else:
            return estimator


class LossCurveDisplay:
    """Loss curve of a network trained by epochs, with its validation curve.

    Draws ``loss_curve_``, and the validation curve where there is one: the validation
    loss (``validation_loss_curve_``, bpnet only) on the same axis, or else the
    validation score (``validation_scores_``) on a second axis, since its scale differs.
    With early stopping, a vertical line marks the epoch whose weights the model kept.
    Build it with :meth:`from_estimator`, which works for bpnet's estimators and for
    scikit-learn's MLP; the attributes below hold the artists, as in scikit-learn's
    displays (``RocCurveDisplay``).

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        The training loss after each epoch.

    validation_loss_curve : array-like of shape (n_epochs,), default=None
        The validation loss after each epoch.

    validation_scores : array-like of shape (n_epochs,), default=None
        The validation score after each epoch (drawn when there is no validation loss).

    best_epoch : int, default=None
        The epoch (counted from 1) whose weights the model kept.

    estimator_name : str, default=None
        The name in the legend and title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the loss.

    figure_ : matplotlib Figure
        The figure holding the axes.

    line_ : matplotlib Line2D
        The training loss.

    validation_line_ : matplotlib Line2D or None
        The validation loss, or score.

    score_ax_ : matplotlib Axes or None
        The second axes, when the validation score is drawn.

    best_epoch_line_ : matplotlib Line2D or None
        The vertical line at the kept epoch.

    See Also
    --------
    BPClassifier : Its ``loss_curve_``, ``validation_loss_curve_`` and
        ``validation_scores_``.
    BPRegressor : The same curves, for regression.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bpnet import BPClassifier, LossCurveDisplay
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = BPClassifier(early_stopping=True, random_state=0).fit(X / 16, y)
    >>> display = LossCurveDisplay.from_estimator(clf)
    >>> len(display.line_.get_xdata()) == clf.n_iter_
    True
    """

    def __init__(self, *, loss_curve, validation_loss_curve=None, validation_scores=None,
                 best_epoch=None, estimator_name=None):  # fmt: skip
        self.loss_curve, self.validation_loss_curve = loss_curve, validation_loss_curve
        self.validation_scores, self.best_epoch = validation_scores, best_epoch
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None):
        """Plot the curves of a fitted BPClassifier, BPRegressor or scikit-learn MLP.

        Parameters
        ----------
        estimator : estimator instance
            A network fitted with 'sgd' or 'adam' (lbfgs records no loss curve), or a
            fitted Pipeline (or TransformedTargetRegressor) whose final step is one: its
            curves are drawn.

        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        name : str, default=None
            The name in the legend and title; the estimator's class name when None.

        Returns
        -------
        display : LossCurveDisplay
            The display, drawn.
        """
        check_is_fitted(estimator)
        estimator = _network(estimator)
        check_is_fitted(estimator)
        curve = getattr(estimator, "loss_curve_", None)
        if curve is None:
            solver = getattr(estimator, "solver", None)
            used = f" (solver={solver!r})" if solver is not None else ""
            raise ValueError(
                f"{type(estimator).__name__}{used} has no loss_curve_: only the 'sgd' and "
                "'adam' solvers record one, epoch by epoch."
            )
        scores = getattr(estimator, "validation_scores_", None)
        best_epoch = None
        if scores:
            # The epoch whose weights early stopping restored: the first best score.
            best_epoch = int(np.nanargmax(scores)) + 1 if not np.all(np.isnan(scores)) else None
        display = cls(
            loss_curve=curve,
            validation_loss_curve=getattr(estimator, "validation_loss_curve_", None),
            validation_scores=scores,
            best_epoch=best_epoch,
            estimator_name=name or type(estimator).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None, *, name=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        name : str, default=None
            The name in the legend and title; ``estimator_name`` when None.

        Returns
        -------
        display : LossCurveDisplay
            This display, with the artists in its attributes.
        """
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots()
        name = name or self.estimator_name or "model"
        epochs = np.arange(1, len(self.loss_curve) + 1)
        (self.line_,) = ax.plot(epochs, self.loss_curve, label="training loss")
        self.validation_line_ = self.score_ax_ = self.best_epoch_line_ = None
        handles = [self.line_]
        if self.validation_loss_curve is not None:
            (self.validation_line_,) = ax.plot(
                epochs, self.validation_loss_curve, label="validation loss"
            )
            handles.append(self.validation_line_)
        elif self.validation_scores is not None:
            self.score_ax_ = ax.twinx()
            (self.validation_line_,) = self.score_ax_.plot(
                epochs, self.validation_scores, color="tab:orange", label="validation score"
            )
            self.score_ax_.set_ylabel("validation score")
            handles.append(self.validation_line_)
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(
                self.best_epoch, color="grey", linestyle="--", label=f"kept epoch {self.best_epoch}"
            )
            handles.append(self.best_epoch_line_)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(name)
        ax.legend(handles=handles, loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self
