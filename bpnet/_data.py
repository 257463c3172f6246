"""The dense or CSR input the Cython kernels read, with a flag saying which it is, and the
encoded tables of the Tabular estimators (dense columns and embedding codes)."""

import numpy as np
import scipy.sparse as sp


class EncodedTable:
    """Rows of a table as the Tabular estimators' encoder leaves them: float columns for
    the network's first layer, and one code per embedding table.

    The one form in which encoded rows travel through a fit (validation splits, the
    scorers and callbacks that predict on them): the Tabular estimators' prediction
    methods take it as it is, without encoding again.

    Parameters
    ----------
    dense : ndarray of shape (n_samples, n_dense)
        The encoded numeric and one-hot columns.

    codes : ndarray of shape (n_samples, n_embeddings), dtype int32
        Each row's row of each embedding table.
    """

    def __init__(self, dense, codes):
        self.dense = np.ascontiguousarray(dense)
        self.codes = np.ascontiguousarray(codes, dtype=np.int32)
        if self.codes.shape[0] != self.dense.shape[0]:
            raise ValueError("dense and codes must have the same number of rows")

    @property
    def shape(self):
        """(n_samples, n_dense): the rows and the encoded float columns."""
        return self.dense.shape

    @property
    def dtype(self):
        return self.dense.dtype

    def __len__(self):
        return self.dense.shape[0]

    def __getitem__(self, rows):
        """The rows ``rows`` (an index array, a mask or a slice), still encoded."""
        return EncodedTable(self.dense[rows], self.codes[rows])


class KernelInput:
    """X, Y and sample weights in the form the Cython kernels read.

    Dense X is kept C-contiguous (copied once only if it is not); CSC input becomes CSR.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The input rows.

    Y : ndarray of shape (n_samples, n_outputs), default=None
        The targets, when the input is for training.

    sample_weight : ndarray of shape (n_samples,), default=None
        Per-row weights; None means unit weights.

    dtype : dtype, default=None
        The floating dtype the kernels compute in; X's own dtype when None. Y, the
        sample weights and CSR values are held in it.

    convert_dense : bool, default=False
        Whether a dense float X is converted to ``dtype`` here, as a whole (for the
        full-batch kernels); otherwise a float32 or float64 X stays as it is and the
        minibatch and prediction kernels convert its rows as they read them.

    An EncodedTable X gives its dense columns as X and its codes as ``codes``.

    Attributes
    ----------
    sparse : bool
        Whether X is held as the CSR arrays ``data``, ``indices`` and ``indptr`` (then
        ``dense`` has no rows) rather than as the matrix ``dense`` (then the CSR arrays
        are empty).

    n_samples : int
        Number of rows of X.

    dtype : dtype
        The floating dtype the kernels compute in.

    codes : ndarray of shape (n_samples, n_embeddings) or None
        The embedding codes of an EncodedTable X; None otherwise.
    """

    def __init__(self, X, Y=None, sample_weight=None, dtype=None, convert_dense=False):
        self.codes = None
        if isinstance(X, EncodedTable):
            self.codes = X.codes
            X = X.dense
        dtype = np.dtype(dtype if dtype is not None else X.dtype)
        self.dtype = dtype
        self.sparse = sp.issparse(X)
        self.n_samples = X.shape[0]
        if self.sparse:
            self._set_csr(X.tocsr(), dtype)
        else:
            keeps_own = not convert_dense and X.dtype in (np.float32, np.float64)
            self.dense = np.ascontiguousarray(X, dtype=None if keeps_own else dtype)
            self.data = np.empty(0, dtype=dtype)
            self.indices = self.indptr = np.empty(0, dtype=np.int32)
        self.Y = None if Y is None else np.ascontiguousarray(Y, dtype=dtype)
        if sample_weight is None:
            self.sample_weight = np.empty(0, dtype=dtype)
        else:
            self.sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)

    def _set_csr(self, X, dtype):
        if X.indptr[-1] > np.iinfo(np.int32).max:
            raise ValueError(
                "sparse X has more than 2**31 - 1 stored values; bpnet's CSR kernels "
                "use 32-bit indices"
            )
        self.dense = np.empty((0, X.shape[1]), dtype=dtype)
        self.data = np.ascontiguousarray(X.data, dtype=dtype)
        self.indices = np.ascontiguousarray(X.indices, dtype=np.int32)
        self.indptr = np.ascontiguousarray(X.indptr, dtype=np.int32)
        self._csr = X

    @property
    def x_args(self):
        """The X arguments of the kernels: ``(sparse, dense, data, indices, indptr)``.

        The flag says which form the kernels read: the dense matrix (the CSR arrays are
        then empty) or the CSR arrays (the dense matrix then has no rows, only the
        width). This is the one place that spells their X arguments out.
        """
        return self.sparse, self.dense, self.data, self.indices, self.indptr

    def rows(self, indices):
        """X restricted to some rows, in the original (dense, CSR or encoded) form."""
        if self.codes is not None:
            return EncodedTable(self.dense[indices], self.codes[indices])
        return self._csr[indices] if self.sparse else self.dense[indices]
