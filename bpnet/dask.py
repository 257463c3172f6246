"""Dask helpers: predictions of any shape over a dask array, and .npy files read lazily.

dask-ml's ``Incremental`` trains BPClassifier and BPRegressor as they are, and its
``ParallelPostFit`` predicts 1-D outputs; this module covers what they do not:

- :func:`predict_blocks` maps ``predict`` or ``predict_proba`` over the row blocks of a
  dask array whatever the shape of the output, where ``ParallelPostFit.predict`` assumes
  one value per row and fails on multilabel and multi-output models.
- :func:`from_npy` makes a dask array of a ``.npy`` file that each worker memory-maps
  itself, where ``da.from_array(np.load(path, mmap_mode="r"))`` puts the mapped array in
  the task graph and ships the whole file to any worker that reads a chunk of it.
"""

import os

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "bpnet.dask needs dask (and distributed and dask-ml to use a cluster): install them "
        "with pip install 'bpnet[dask]'."
    ) from error

__all__ = ["from_npy", "predict_blocks"]


def predict_blocks(estimator, X, method="predict"):
    """Apply a fitted estimator's prediction method to each row block of a dask array.

    The result is a dask array with the rows of ``X`` and the columns of the method's
    output: one dimension for a 1-D output (binary or multiclass labels, a single
    regression target), two for a 2-D one (multilabel indicators, probabilities,
    several regression targets). The output's shape and dtype come from one prediction
    of a row of zeros; the blocks are computed only when the result is.

    Parameters
    ----------
    estimator : estimator object
        A fitted estimator, for example a :class:`~bpnet.BPClassifier` or
        :class:`~bpnet.BPRegressor`. The task graph holds it once, as a task that the
        blocks depend on, rather than a copy in every block's task.

    X : dask.array.Array of shape (n_samples, n_features)
        The input. Blocks along the columns are joined first, so that each task sees
        whole rows. Row blocks of unknown size (from boolean indexing, for example) and
        empty row blocks are allowed.

    method : str, default="predict"
        The name of the method to apply: ``"predict"``, ``"predict_proba"``,
        ``"predict_log_proba"``, or any other that returns one row per input row.

    Returns
    -------
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        The method's output, in the row blocks of ``X`` and with a single block along
        the columns.

    See Also
    --------
    dask_ml.wrappers.ParallelPostFit : Does the same for 1-D outputs.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from bpnet import BPClassifier
    >>> from bpnet.dask import predict_blocks
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 4))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0])
    >>> clf = BPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=1000, random_state=0)
    >>> clf = clf.fit(X, Y)
    >>> X_dask = da.from_array(X, chunks=(25, 4))
    >>> Y_dask = predict_blocks(clf, X_dask)
    >>> Y_dask.shape, Y_dask.chunks
    ((60, 3), ((25, 25, 10), (3,)))
    >>> np.array_equal(Y_dask.compute(), clf.predict(X))
    True
    >>> predict_blocks(clf, X_dask, method="predict_proba").dtype
    dtype('float64')
    """
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array, not {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), not {X.ndim}-D.")
    predict = getattr(estimator, method)
    X = X.rechunk({1: -1})
    # A single row gives the output's dimensions and dtype without touching X.
    sample = np.asarray(predict(np.zeros((1, X.shape[1]), dtype=X.dtype)))
    if sample.ndim not in (1, 2) or sample.shape[0] != 1:
        raise ValueError(
            f"{type(estimator).__name__}.{method} returned an array of shape "
            f"{sample.shape} for one row: predict_blocks needs one row of output per row."
        )
    row_shape = sample.shape[1:]
    model = dask.delayed(estimator, pure=True)
    # map_blocks keeps dtype and meta for itself; the block function gets the rest.
    block_arguments = dict(
        method=method,
        row_shape=row_shape,
        output_dtype=sample.dtype,
        dtype=sample.dtype,
        meta=sample[:0],
    )
    if not row_shape:
        return X.map_blocks(
            _predict_block, model, drop_axis=1, chunks=(X.chunks[0],), **block_arguments
        )
    return X.map_blocks(_predict_block, model, chunks=(X.chunks[0], row_shape), **block_arguments)


def _predict_block(block, estimator, method, row_shape, output_dtype):
    """One block of predict_blocks: the estimator's method on these rows."""
    if block.shape[0] == 0:
        # Estimators reject empty input; an empty block (boolean indexing leaves them)
        # has an empty output.
        return np.empty((0, *row_shape), dtype=output_dtype)
    return getattr(estimator, method)(block)


def from_npy(path, chunks="auto"):
    """A dask array of a ``.npy`` file, memory-mapped by whichever worker reads a block.

    The task graph holds only the file's path, shape and dtype, so each worker opens the
    file itself (read-only, with ``np.load(path, mmap_mode="r")``) and a block is a view
    of the mapping: its rows are read from disk when a task uses them, and the operating
    system may drop them from memory again. A block sent to another worker arrives there
    as a copy. Dask counts a mapped block at its full size, so a worker that holds more
    blocks than its memory target (read ahead of a long ``Incremental`` fit, for
    example) writes some to its spill directory: an extra copy on disk, not in memory.

    The file must be at the same path on every worker (a shared or copied file system),
    and must not change while the array is used.

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file, as written by :func:`numpy.save`.

    chunks : int, tuple, str or "auto", default="auto"
        The block shape, as for :func:`dask.array.from_array`; for training with
        ``dask_ml.wrappers.Incremental``, blocks of whole rows, for example
        ``(10_000, n_features)``.

    Returns
    -------
    X : dask.array.Array
        The file's contents, lazily.

    See Also
    --------
    dask.array.from_array : Makes a dask array of an array-like object.
    numpy.load : Reads, or memory-maps, a ``.npy`` file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from bpnet.dask import from_npy
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(12.0).reshape(6, 2))
    >>> X = from_npy(path, chunks=(4, 2))
    >>> X.chunks
    ((4, 2), (2,))
    >>> X[4:].compute()
    array([[ 8.,  9.],
           [10., 11.]])
    """
    npy = _NpyFile(path)
    return da.from_array(
        npy,
        chunks=chunks,
        # The file object pickles as its path: cheap to repeat in every task.
        inline_array=True,
        meta=np.empty((0,) * npy.ndim, dtype=npy.dtype),
    )


class _NpyFile:
    """A .npy file that the process slicing it opens, memory-mapped and read-only.

    It pickles as its path, shape and dtype, never as data.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        mapped = np.load(self.path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = mapped.shape, mapped.dtype, mapped.ndim

    def __getitem__(self, key):
        # A plain ndarray view, whatever path dask's slicing takes to get here.
        return np.asarray(np.load(self.path, mmap_mode="r")[key])

    def __dask_tokenize__(self):
        # The file's identity and version, so that a rewritten file gets new task keys.
        stat = os.stat(self.path)
        return ("bpnet.dask._NpyFile", self.path, stat.st_size, stat.st_mtime_ns)
