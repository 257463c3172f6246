"""Column encoder of the Tabular estimators: scaled numbers, one-hot columns, embedding codes."""

import decimal
import numbers
import sys
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

# RealMLP-TD's preprocessing (Holzmueller et al., "Better by Default", 2024): robust
# scaling by the interquartile range, then a smooth clip to about +-SMOOTH_CLIP_BOUND.
SMOOTH_CLIP_BOUND = 3.0
ROBUST_QUANTILES = (0.25, 0.5, 0.75)
# With a zero interquartile range the scale is RANGE_SCALE / (max - min), so that the
# column's range spans [-1, 1] around the median (RealMLP's fallback).
RANGE_SCALE = 2.0
# Beyond this |x| the clip's (x / bound) ** 2 could overflow; the result there is the
# bound itself to double precision, so it is written directly.
_CLIP_SATURATION = 1e150

# The reserved rows of every embedding table; a level's row is FIRST_LEVEL_ROW plus its
# position among the sorted levels.
UNSEEN_ROW = 0
MISSING_ROW = 1
FIRST_LEVEL_ROW = 2

# Level positions: -1 for a value not seen at fit, -2 for a missing value.
_UNSEEN = -1
_MISSING = -2

# Values that convert to a number; bool counts, but a column of only bools is not
# inferred to be numeric (see _Column.holds_only_numbers).
_NUMBER_TYPES = (numbers.Real, np.bool_, decimal.Decimal)


def smooth_clip(x):
    """Clip values smoothly to about +-3: ``x / sqrt(1 + (x / 3) ** 2)``.

    The map is odd, increasing, close to the identity near 0 and tends to +-3 (the
    module's ``SMOOTH_CLIP_BOUND``). Infinite values map to +-3; NaN stays NaN.

    Parameters
    ----------
    x : array-like
        Values, converted to float64.

    Returns
    -------
    clipped : ndarray
        The clipped values, float64, of the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        clipped = x / np.sqrt(1.0 + (x / SMOOTH_CLIP_BOUND) ** 2)
    saturated = np.abs(x) > _CLIP_SATURATION
    if saturated.any():
        clipped = np.where(saturated, np.copysign(SMOOTH_CLIP_BOUND, x), clipped)
    return clipped


def robust_scale_params(values):
    """The median and the scale of RealMLP's robust scaling, from a column's values.

    NaN values are left out. The scale is ``1 / (q75 - q25)``; if the interquartile range
    is 0, it is ``2 / (max - min)``; if that is 0 too (a constant column), or no value is
    left, it is 0. Quantiles interpolate linearly (NumPy's default). A scaled value is
    ``(x - median) * scale``.

    Parameters
    ----------
    values : array-like of shape (n_values,)
        The training values of one column.

    Returns
    -------
    median : float
        The median of the values (0.0 when there is none).

    scale : float
        The factor applied after subtracting the median.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got an array of shape {values.shape}.")
    values = values[~np.isnan(values)]
    if values.size == 0:
        return 0.0, 0.0
    q25, median, q75 = np.quantile(values, ROBUST_QUANTILES)
    spreads = ((q75 - q25, 1.0), (values.max() - values.min(), RANGE_SCALE))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for spread, factor in spreads:
            scale = factor / spread
            # A spread so small that its inverse overflows is treated like a zero one.
            if spread > 0 and np.isfinite(scale) and scale > 0:
                return float(median), float(scale)
    return float(median), 0.0


class TableEncoder:
    """Encode a table's columns for the Tabular estimators' network.

    X comes as the user has it: a pandas or polars DataFrame, a NumPy array (object
    arrays too) or nested lists. Each column is numeric or categorical; a categorical
    column with at most ``max_one_hot`` levels is one-hot encoded, a larger one becomes
    one embedding code per row. The rules follow RealMLP-TD's preprocessing.

    **Which columns are categorical** (``categorical_features``, with the meanings of
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`, and the same error
    messages):

    - None: no column is categorical.
    - 'from_dtype' (default): in a pandas frame, columns of dtype ``category``,
      ``object``, ``string`` or ``str`` (pandas 3's default for text) and ``bool``
      (also the nullable ``boolean``) are categorical; in a polars frame, ``Categorical``,
      ``Enum``, ``String`` and ``Boolean``. Numeric dtypes are numeric; any other dtype
      (dates, durations, ...) is an error naming the column. In a NumPy array, a string
      or bool array is all categorical, a numeric array all numeric, and in an object
      array a column is numeric when all its non-missing values are numbers other than
      bool, categorical otherwise. (HistGradientBoosting takes only ``category`` and
      ``Enum`` columns, and no column of an array.)
    - an array-like of int: the indices of the categorical columns, in
      ``[0, n_features - 1]`` (negative indices are refused, as in HistGradientBoosting).
    - an array-like of bool of length ``n_features``: a mask.
    - an array-like of str: column names; X must then be a frame with those columns.

    A column named categorical that holds numbers is categorical by value. A column that
    is not categorical must hold numbers (or bools): any other value there is an error
    naming the column. There is no cap on the number of levels (HistGradientBoosting
    allows 255): a large column costs an embedding table with a row per level.

    **Numeric columns.** On the non-missing training values, ``median`` and ``scale`` come
    from :func:`robust_scale_params`; a value becomes ``smooth_clip((x - median) *
    scale)``, see :func:`smooth_clip`. A missing value (NaN, None, ``pd.NA``, polars null)
    becomes 0. A column that had a missing value at fit also gets an indicator column,
    1.0 where the value is missing and 0.0 elsewhere; a missing value at transform in a
    column that had none at fit just becomes 0. An infinite value is an error, at fit and
    at transform, naming the column.

    **Categorical columns.** The levels are the distinct non-missing values seen at fit,
    sorted (as numbers, as strings, or, when a column mixes kinds, by their text); a
    pandas ``category`` column's unused categories are not levels. Values equal in
    Python (``1``, ``1.0``, ``True``) are one level. Missing values are None, NaN,
    ``pd.NA``, ``pd.NaT`` and polars nulls. A value not seen at fit never raises:

    - a one-hot column (``n_levels <= max_one_hot``) gives one dense column per level, in
      level order, then a "missing" column if a missing value was seen at fit. An unseen
      level, or a missing value when none was seen at fit, gives zeros in all of them. A
      binary column gives two columns.
    - an embedded column (``n_levels > max_one_hot``) gives a code, the row of its
      embedding table: ``UNSEEN_ROW`` (0) for anything not seen at fit, including a
      missing value when none was seen at fit; ``MISSING_ROW`` (1) for a missing value;
      ``FIRST_LEVEL_ROW + i`` (2 + i) for the level ``categories_[k][i]``. The table has
      ``n_levels + 2`` rows (``embedding_sizes_``).

    **Output.** ``transform`` returns ``(dense, codes)``. ``dense`` is float64,
    C-contiguous, with columns in this order: the scaled numeric columns (in input
    order), then the missing-value indicators (in input order of their columns), then
    the one-hot groups (in input order; within a group, the levels in order, then the
    missing column). ``codes`` is int32, C-contiguous, one column per embedded column in
    input order. ``dense_feature_names_`` and ``embedded_feature_names_`` name them.

    **Validation.** X must be 2-D with at least one row and one column; sparse input is
    refused. At transform, X must have as many columns as at fit, and a frame's column
    names must be those seen at fit, in the same order; an array, or a frame whose
    names were not recorded, is matched by position. A column numeric at fit that now
    holds other values is an error. The caller (the estimator) owns scikit-learn's
    feature-name warnings. X is never modified.

    This is not a scikit-learn estimator: the Tabular estimators own one as a fitted
    attribute. It holds only plain attributes (arrays, lists, str, int, float), so it
    pickles and loads with skops.

    Parameters
    ----------
    categorical_features : {'from_dtype'} or array-like of {bool, int, str} or None, \
            default='from_dtype'
        Which columns are categorical; see above.

    max_one_hot : int, default=8
        The largest number of levels a categorical column may have and be one-hot
        encoded; a column with more levels is embedded. At least 1.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,), dtype=object
        The column names seen during fit. Defined only when X was a frame whose column
        names are all strings, as scikit-learn records them.

    kinds_ : list of str of length n_features_in_
        Each input column's encoding: 'numeric', 'onehot' or 'embedded'.

    numeric_columns_ : ndarray of shape (n_numeric,), dtype=int64
        The indices of the numeric input columns, in the order of the first block of
        ``dense``.

    medians_ : ndarray of shape (n_numeric,), dtype=float64
        The median of each numeric column.

    scales_ : ndarray of shape (n_numeric,), dtype=float64
        The scale of each numeric column.

    nan_indicator_columns_ : ndarray of shape (n_indicators,), dtype=int64
        The indices of the numeric input columns that had a missing value at fit, each
        with an indicator column in ``dense``, in this order.

    categorical_columns_ : ndarray of shape (n_categorical,), dtype=int64
        The indices of the categorical input columns, one-hot and embedded, in input
        order.

    categories_ : list of ndarray of length n_categorical
        The levels of each categorical column, sorted, aligned with
        ``categorical_columns_``: object arrays for strings and mixed kinds, numeric or
        bool arrays for numbers and bools.

    category_missing_seen_ : ndarray of shape (n_categorical,), dtype=bool
        Whether each categorical column had a missing value at fit.

    onehot_columns_ : ndarray of shape (n_onehot,), dtype=int64
        The indices of the one-hot input columns, in the order of their groups.

    embedded_columns_ : ndarray of shape (n_embedded_,), dtype=int64
        The indices of the embedded input columns, in the order of ``codes``' columns.

    embedding_sizes_ : ndarray of shape (n_embedded_,), dtype=int64
        The number of rows of each embedding table: its number of levels plus 2.

    dense_feature_names_ : ndarray of shape (n_dense_,), dtype=object
        The name of each dense column: ``name`` for a scaled column,
        ``name_missing`` for an indicator or a one-hot missing column, ``name_level``
        for a one-hot level, where ``name`` is the input column's name (``x0``, ``x1``,
        ... without recorded names).

    embedded_feature_names_ : ndarray of shape (n_embedded_,), dtype=object
        The name of each embedded input column.

    n_dense_ : int
        Number of columns of ``dense``.

    n_embedded_ : int
        Number of columns of ``codes``.

    See Also
    --------
    smooth_clip : The clip applied after the robust scaling.
    robust_scale_params : The median and scale of a numeric column.

    Examples
    --------
    >>> import numpy as np
    >>> from bpnet._table import TableEncoder
    >>> X = np.array([[1.0, "red"], [2.0, "blue"], [np.nan, "red"]], dtype=object)
    >>> encoder = TableEncoder()
    >>> dense, codes = encoder.fit_transform(X)
    >>> encoder.kinds_
    ['numeric', 'onehot']
    >>> encoder.dense_feature_names_
    array(['x0', 'x0_missing', 'x1_blue', 'x1_red'], dtype=object)
    >>> dense
    array([[-0.9486833,  0.       ,  0.       ,  1.       ],
           [ 0.9486833,  0.       ,  1.       ,  0.       ],
           [ 0.       ,  1.       ,  0.       ,  1.       ]])
    >>> codes.shape
    (3, 0)
    """

    def __init__(self, categorical_features="from_dtype", max_one_hot=8):
        self.categorical_features = categorical_features
        self.max_one_hot = max_one_hot

    def fit(self, X):
        """Learn the columns' kinds, scalings and levels from X.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
            The training table.

        Returns
        -------
        self : object
            The fitted encoder.
        """
        self._fit(_Table(X))
        return self

    def transform(self, X):
        """Encode X with the fitted rules.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
            The table, with the columns seen at fit.

        Returns
        -------
        dense : ndarray of shape (n_samples, n_dense_), dtype=float64
            Scaled numeric columns, missing-value indicators, then one-hot groups.

        codes : ndarray of shape (n_samples, n_embedded_), dtype=int32
            The embedding row of each embedded column.
        """
        if not hasattr(self, "kinds_"):
            raise NotFittedError(
                "This TableEncoder instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this encoder."
            )
        table = _Table(X)
        self._check_columns(table)
        return self._encode(table)

    def fit_transform(self, X):
        """Fit on X and encode it, reading each column once.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
            The training table.

        Returns
        -------
        dense : ndarray of shape (n_samples, n_dense_), dtype=float64
            Scaled numeric columns, missing-value indicators, then one-hot groups.

        codes : ndarray of shape (n_samples, n_embedded_), dtype=int32
            The embedding row of each embedded column.
        """
        table = _Table(X)
        self._fit(table)
        return self._encode(table)

    def _fit(self, table):
        max_one_hot = self.max_one_hot
        if (
            not isinstance(max_one_hot, numbers.Integral)
            or isinstance(max_one_hot, (bool, np.bool_))
            or max_one_hot < 1
        ):
            raise ValueError(f"max_one_hot must be an integer >= 1, got {max_one_hot!r}.")
        requested = _requested_categorical(
            self.categorical_features, table.n_features, table.labels
        )
        names = (
            table.feature_names
            if table.feature_names is not None
            else np.asarray([f"x{j}" for j in range(table.n_features)], dtype=object)
        )
        kinds, medians, scales, indicators = [], [], [], []
        categories, missing_seen = [], []
        for j, column in enumerate(table.columns):
            if requested is None:
                categorical = column.categorical_by_dtype(table.is_frame)
            else:
                categorical = bool(requested[j])
            if categorical:
                _, index = column.encoded()
                levels = column.levels()
                categories.append(levels)
                missing_seen.append(bool((index < 0).any()))
                kinds.append("onehot" if len(levels) <= max_one_hot else "embedded")
            else:
                values = column.floats(numeric_at_fit=None)
                median, scale = robust_scale_params(values)
                medians.append(median)
                scales.append(scale)
                if np.isnan(values).any():
                    indicators.append(j)
                kinds.append("numeric")

        kinds_array = np.asarray(kinds)
        is_categorical = kinds_array != "numeric"
        onehot = np.flatnonzero(kinds_array == "onehot")
        embedded = np.flatnonzero(kinds_array == "embedded")
        levels_of = dict(zip(np.flatnonzero(is_categorical).tolist(), categories))
        missing_of = dict(zip(np.flatnonzero(is_categorical).tolist(), missing_seen))

        dense_names = [names[j] for j in np.flatnonzero(~is_categorical)]
        dense_names += [f"{names[j]}_missing" for j in indicators]
        for j in onehot.tolist():
            dense_names += [f"{names[j]}_{level}" for level in levels_of[j].tolist()]
            if missing_of[j]:
                dense_names.append(f"{names[j]}_missing")

        self.n_features_in_ = table.n_features
        if table.feature_names is not None:
            self.feature_names_in_ = table.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.kinds_ = kinds
        self.numeric_columns_ = np.flatnonzero(~is_categorical).astype(np.int64)
        self.medians_ = np.asarray(medians, dtype=np.float64)
        self.scales_ = np.asarray(scales, dtype=np.float64)
        self.nan_indicator_columns_ = np.asarray(indicators, dtype=np.int64)
        self.categorical_columns_ = np.flatnonzero(is_categorical).astype(np.int64)
        self.categories_ = categories
        self.category_missing_seen_ = np.asarray(missing_seen, dtype=bool)
        self.onehot_columns_ = onehot.astype(np.int64)
        self.embedded_columns_ = embedded.astype(np.int64)
        self.embedding_sizes_ = np.asarray(
            [len(levels_of[j]) + FIRST_LEVEL_ROW for j in embedded.tolist()], dtype=np.int64
        )
        self.dense_feature_names_ = np.asarray(dense_names, dtype=object)
        self.embedded_feature_names_ = np.asarray([names[j] for j in embedded], dtype=object)
        self.n_dense_ = len(dense_names)
        self.n_embedded_ = len(embedded)
        return self

    def _check_columns(self, table):
        if table.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {table.n_features} features, but TableEncoder is expecting "
                f"{self.n_features_in_} features as input."
            )
        fitted = getattr(self, "feature_names_in_", None)
        given = table.feature_names
        if fitted is None or given is None or np.array_equal(fitted, given):
            return
        unseen = sorted(set(given) - set(fitted))
        gone = sorted(set(fitted) - set(given))
        message = "The feature names should match those that were passed during fit.\n"
        if unseen:
            message += f"Feature names unseen at fit time: {_name_list(unseen)}.\n"
        if gone:
            message += f"Feature names seen at fit time, yet now missing: {_name_list(gone)}.\n"
        if not unseen and not gone:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)

    def _encode(self, table):
        n_samples = table.n_samples
        dense = np.zeros((n_samples, self.n_dense_), dtype=np.float64)
        codes = np.zeros((n_samples, self.n_embedded_), dtype=np.int32)
        columns = table.columns

        n_numeric = len(self.numeric_columns_)
        indicator_of = {
            j: n_numeric + k for k, j in enumerate(self.nan_indicator_columns_.tolist())
        }
        for k, j in enumerate(self.numeric_columns_.tolist()):
            values = columns[j].floats(numeric_at_fit=True)
            missing = np.isnan(values)
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = smooth_clip((values - self.medians_[k]) * self.scales_[k])
            # NaN here is a missing value, or an overflow of x - median past float range.
            scaled[np.isnan(scaled)] = 0.0
            dense[:, k] = scaled
            if j in indicator_of:
                dense[:, indicator_of[j]] = missing

        offset = n_numeric + len(indicator_of)
        onehot = set(self.onehot_columns_.tolist())
        n_codes = 0
        for j, levels, missing_seen in zip(
            self.categorical_columns_.tolist(), self.categories_, self.category_missing_seen_
        ):
            positions = columns[j].positions(levels)
            if j in onehot:
                rows = np.flatnonzero(positions >= 0)
                dense[rows, offset + positions[rows]] = 1.0
                if missing_seen:
                    dense[positions == _MISSING, offset + len(levels)] = 1.0
                offset += len(levels) + int(missing_seen)
            else:
                missing_row = MISSING_ROW if missing_seen else UNSEEN_ROW
                codes[:, n_codes] = np.where(
                    positions >= 0,
                    positions + FIRST_LEVEL_ROW,
                    np.where(positions == _MISSING, missing_row, UNSEEN_ROW),
                )
                n_codes += 1
        return dense, codes


def _name_list(names):
    shown = ", ".join(repr(name) for name in names[:5])
    return shown + (", ..." if len(names) > 5 else "")


def _requested_categorical(spec, n_features, labels):
    """The mask of the columns ``categorical_features`` names; None for 'from_dtype'.

    The checks and messages are HistGradientBoosting's; ``labels`` are a frame's column
    labels, None for an array.
    """
    if spec is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(spec, str):
        if spec == "from_dtype":
            return None
        raise ValueError(
            "categorical_features must be None, 'from_dtype' or an array-like of bool, "
            f"int or str, got the string {spec!r}; to name one column, pass a list: "
            f"[{spec!r}]."
        )
    requested = np.asarray(spec)
    if requested.ndim != 1:
        raise ValueError(
            "categorical_features must be a 1-D array-like of bool, int or str, got "
            f"{requested.ndim} dimension(s) (shape {requested.shape})."
        )
    if requested.size == 0:
        return np.zeros(n_features, dtype=bool)
    kind = requested.dtype.kind
    if kind not in "iubUO":
        raise ValueError(
            "categorical_features must be an array-like of bool, int or str, got: "
            f"{requested.dtype.name}."
        )
    if kind == "O":
        types = {type(item) for item in requested}
        if types != {str}:
            raise ValueError(
                "categorical_features must be an array-like of bool, int or str, got: "
                f"{', '.join(sorted(t.__name__ for t in types))}."
            )
    mask = np.zeros(n_features, dtype=bool)
    if kind in "UO":
        if labels is None:
            raise ValueError(
                "categorical_features should be passed as an array of integers or as a "
                "boolean mask when the model is fitted on data without feature names."
            )
        labels = list(labels)
        for name in requested.tolist():
            if name not in labels:
                raise ValueError(
                    f"categorical_features has an item value '{name}' which is not a "
                    "valid feature name of the training data. Observed feature names: "
                    f"{labels}"
                )
            mask[labels.index(name)] = True
    elif kind in "iu":
        if requested.max() >= n_features or requested.min() < 0:
            raise ValueError(
                "categorical_features set as integer indices must be in [0, n_features - "
                f"1], got {requested.tolist()} with n_features = {n_features}."
            )
        mask[requested] = True
    else:
        if requested.shape[0] != n_features:
            raise ValueError(
                "categorical_features set as a boolean mask must have shape (n_features,), "
                f"got: {requested.shape}, with n_features = {n_features}."
            )
        mask[:] = requested
    return mask


class _Table:
    """X read column by column, with its shape, labels and recorded feature names."""

    def __init__(self, X):
        if sp.issparse(X):
            raise TypeError(
                "Sparse input is not supported: the table encoder reads dense columns. "
                "Pass a dense array or a DataFrame."
            )
        pandas = sys.modules.get("pandas")
        polars = sys.modules.get("polars")
        if pandas is not None and isinstance(X, pandas.DataFrame):
            self._start(X.shape, X.columns)
            self.columns = [
                _pandas_column(X.iloc[:, j], _label(name)) for j, name in enumerate(X.columns)
            ]
        elif polars is not None and isinstance(X, polars.DataFrame):
            self._start(X.shape, X.columns)
            self.columns = [
                _polars_column(X.to_series(j), _label(name)) for j, name in enumerate(X.columns)
            ]
        else:
            if (pandas is not None and isinstance(X, pandas.Series)) or (
                polars is not None and isinstance(X, polars.Series)
            ):
                raise ValueError(
                    "Expected a 2-D X (a DataFrame or a 2-D array), got a Series; pass a "
                    "frame with one column instead."
                )
            array = _as_array(X)
            self._start(array.shape, None)
            self.columns = [
                _array_column(array[:, j], f"column {j}") for j in range(array.shape[1])
            ]

    def _start(self, shape, labels):
        self.n_samples, self.n_features = shape
        if self.n_samples == 0 or self.n_features == 0:
            raise ValueError(
                f"Found array with {self.n_samples} sample(s) and {self.n_features} "
                f"feature(s) (shape={tuple(shape)}); at least 1 of each is required."
            )
        self.is_frame = labels is not None
        self.labels = None if labels is None else list(labels)
        self.feature_names = None if labels is None else _feature_names(self.labels)


def _as_array(X):
    if isinstance(X, np.ndarray):
        array = X
    else:
        array = np.asarray(X)
        if array.dtype.kind in "US":
            # NumPy turns the numbers of a mixed list into text; keep them numbers.
            array = np.asarray(X, dtype=object)
    if array.ndim == 1:
        raise ValueError(
            f"Expected a 2-D X, got a 1-D array of shape {array.shape}. Reshape it with "
            "X.reshape(-1, 1) if it holds a single feature, or X.reshape(1, -1) if it "
            "holds a single sample."
        )
    if array.ndim != 2:
        raise ValueError(
            f"Expected a 2-D X, got an array with {array.ndim} dimension(s) (shape {array.shape})."
        )
    return array


def _feature_names(labels):
    """The frame's column names when they are all strings, as scikit-learn records them."""
    types = sorted({type(label).__qualname__ for label in labels})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. Convert "
            "them all to strings (X.columns = X.columns.astype(str), for example), or all "
            "to a non-string type."
        )
    if types == ["str"]:
        return np.asarray(labels, dtype=object)
    return None


def _label(name):
    return f"column {name!r}"


def _isna(values):
    """The missing entries of an object array: None, NaN, pd.NA, pd.NaT."""
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        return np.asarray(pandas.isna(values), dtype=bool)
    # Without pandas loaded there is no pd.NA or pd.NaT: None, and NaN (unequal to itself).
    with np.errstate(invalid="ignore"):
        return np.asarray(np.equal(values, None) | np.not_equal(values, values), dtype=bool)


def _object_array(items):
    return np.fromiter(items, dtype=object, count=len(items))


def _type_names(types):
    return ", ".join(sorted({t.__name__ for t in types}))


def _pandas_column(series, label):
    pandas = sys.modules["pandas"]
    dtype = series.dtype
    text = str(dtype)
    if isinstance(dtype, pandas.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        return _Column(label, "category", text, codes, codes < 0, np.asarray(dtype.categories))
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        values = series.to_numpy()
        family = "bool" if dtype.kind == "b" else "numeric"
        return _Column(label, family, text, values, np.isnan(values) if dtype.kind == "f" else None)
    if pandas.api.types.is_bool_dtype(dtype):
        family = "bool"
    elif pandas.api.types.is_numeric_dtype(dtype):
        # Nullable and Arrow-backed numbers: their own NumPy type, missing entries apart.
        missing = series.isna().to_numpy()
        numpy_dtype = getattr(dtype, "numpy_dtype", np.dtype(np.float64))
        values = series.to_numpy(dtype=numpy_dtype, na_value=0)
        return _Column(label, "numeric", text, values, missing)
    elif pandas.api.types.is_object_dtype(dtype):
        family = "object"
    elif pandas.api.types.is_string_dtype(dtype):  # "str", "string", Arrow strings
        family = "string"
    elif _is_arrow_dictionary(dtype):
        family = "category"
    else:
        family = "other"
    # pandas' hash table codes text ~10x faster than Python objects in NumPy would be.
    try:
        codes, uniques = series.factorize(use_na_sentinel=True)
    except TypeError as error:
        raise _unhashable(label, error) from None
    dictionary = np.asarray(uniques, dtype=object)
    return _Column(label, family, text, codes, codes < 0, dictionary)


def _is_arrow_dictionary(dtype):
    """Whether a pandas dtype is an Arrow dictionary (Arrow's categorical) type."""
    pyarrow = sys.modules.get("pyarrow")
    arrow_type = getattr(dtype, "pyarrow_dtype", None)
    return (
        pyarrow is not None and arrow_type is not None and pyarrow.types.is_dictionary(arrow_type)
    )


def _polars_column(series, label):
    polars = sys.modules["polars"]
    dtype = series.dtype
    text = str(dtype)
    missing = series.is_null().to_numpy() if series.null_count() else None
    if dtype == polars.Null:
        values = np.full(len(series), np.nan)
        return _Column(label, "numeric", text, values, np.isnan(values))
    if dtype.is_integer() or dtype == polars.Boolean:
        family = "bool" if dtype == polars.Boolean else "numeric"
        if missing is not None:
            # Filled only to give NumPy a typed array; the mask keeps them missing.
            series = series.fill_null(False if family == "bool" else 0)
        return _Column(label, family, text, series.to_numpy(), missing)
    if dtype.is_numeric():
        values = series.cast(polars.Float64).to_numpy()
        return _Column(label, "numeric", text, values, np.isnan(values))
    if dtype in (polars.String, polars.Categorical, polars.Enum):
        return _polars_text_column(series, label)
    family = "object" if dtype == polars.Object else "other"
    values = np.asarray(series.to_numpy(), dtype=object)
    return _Column(label, family, text, values, _isna(values))


def _polars_text_column(series, label):
    """A polars text column coded by polars' own categorical codes, without turning each
    row into a Python string."""
    polars = sys.modules["polars"]
    text = str(series.dtype)
    family = "string" if series.dtype == polars.String else "category"
    if family == "string":
        series = series.cast(polars.Categorical)
    distinct = series.unique().drop_nulls()
    distinct_codes = distinct.to_physical().to_numpy().astype(np.intp)
    sentinel = int(distinct_codes.max()) + 1 if len(distinct_codes) else 0
    position = np.full(sentinel + 1, -1, dtype=np.intp)
    position[distinct_codes] = np.arange(len(distinct_codes))
    codes = position[series.to_physical().fill_null(sentinel).to_numpy()]
    dictionary = np.asarray(distinct.cast(polars.String).to_numpy(), dtype=object)
    return _Column(label, family, text, codes, codes < 0, dictionary)


def _array_column(values, label):
    kind = values.dtype.kind
    if kind in "biuf":
        family = "bool" if kind == "b" else "numeric"
        return _Column(
            label, family, str(values.dtype), values, np.isnan(values) if kind == "f" else None
        )
    family = {"U": "string", "S": "string", "O": "object"}.get(kind, "other")
    objects = values.astype(object) if kind != "O" else values
    return _Column(label, family, str(values.dtype), objects, _isna(objects))


def _unhashable(label, error):
    return ValueError(
        f"{label} holds unhashable values ({error}); a categorical column needs numbers, "
        "strings or other hashable values."
    )


class _NonNumeric(Exception):
    """A column asked for numbers holds other values; the message is the caller's."""


class _Column:
    """One input column: its values, missing mask and dtype family, and the two readings
    the encoder makes of it (as numbers, and as dictionary codes), each done once.

    ``values`` is a typed NumPy array (numbers or bools) or an object array; with a
    ``dictionary`` (a pandas category's categories, or the distinct values that pandas or
    polars found), it holds the codes into it, -1 for missing. ``missing`` is a boolean
    mask, or None when nothing is missing.
    """

    def __init__(self, label, family, dtype_text, values, missing, dictionary=None):
        self.label = label
        self.family = family
        self.dtype_text = dtype_text
        self.values = values
        self.missing = missing if missing is not None and missing.any() else None
        self.dictionary = dictionary
        self._floats = None
        self._encoded = None

    def _present(self):
        return self.values if self.missing is None else self.values[~self.missing]

    def categorical_by_dtype(self, from_frame):
        """The 'from_dtype' rule; raises for a dtype that is neither kind."""
        if self.family in ("category", "string", "bool"):
            return True
        if self.family == "numeric":
            return False
        if self.family == "object":
            return from_frame or not self.holds_only_numbers()
        raise ValueError(
            f"{self.label} has dtype {self.dtype_text}, which is neither numeric nor "
            "categorical; convert it to numbers, or name it in categorical_features."
        )

    def holds_only_numbers(self):
        values = self._present() if self.dictionary is None else self.dictionary
        types = set(map(type, values))
        return all(issubclass(t, _NUMBER_TYPES) for t in types) and not any(
            issubclass(t, (bool, np.bool_)) for t in types
        )

    def floats(self, numeric_at_fit):
        """The column as float64 with NaN where missing; raises for non-numbers or inf.

        ``numeric_at_fit`` is None at fit, True at transform (for the messages).
        """
        if self._floats is None:
            try:
                self._floats = self._as_floats()
            except _NonNumeric as error:
                if numeric_at_fit:
                    raise ValueError(
                        f"{self.label} was numeric at fit but now holds non-numeric values "
                        f"({error}); pass the same kind of values as at fit."
                    ) from None
                raise ValueError(
                    f"{self.label} holds non-numeric values ({error}) and is not in "
                    "categorical_features; name it there, or convert it to numbers."
                ) from None
            if np.isinf(self._floats).any():
                raise ValueError(f"Input X contains infinity in {self.label}.")
        return self._floats

    def _as_floats(self):
        if self.dictionary is not None:
            # A category: its categories as numbers, then picked by code.
            table = _objects_as_floats(np.asarray(self.dictionary, dtype=object))
            table = np.append(table, np.nan)
            return table[self.values]
        if self.values.dtype.kind in "biuf":
            floats = self.values.astype(np.float64)
        elif self.values.dtype.kind == "O":
            floats = np.full(len(self.values), np.nan)
            present = self._present()
            floats[slice(None) if self.missing is None else ~self.missing] = _objects_as_floats(
                present
            )
            return floats
        else:
            raise _NonNumeric(self.values.dtype.name)
        if self.missing is not None:
            floats[self.missing] = np.nan
        return floats

    def encoded(self):
        """(dictionary, index): the distinct values, and each row's index into them
        (-1 where missing)."""
        if self._encoded is None:
            if self.dictionary is not None:
                self._encoded = self.dictionary, self.values.astype(np.intp)
            else:
                self._encoded = self._dictionary_encode()
        return self._encoded

    def _dictionary_encode(self):
        present = self._present()
        if present.dtype.kind in "biuf":
            dictionary, inverse = np.unique(present, return_inverse=True)
        else:
            # Hashing, not sorting: a sort of Python objects is ~10x slower.
            try:
                keys = list(dict.fromkeys(present))
            except TypeError as error:
                raise _unhashable(self.label, error) from None
            position = dict(zip(keys, range(len(keys))))
            inverse = np.fromiter(map(position.__getitem__, present), np.intp, len(present))
            dictionary = _object_array(keys)
        if self.missing is None:
            return dictionary, inverse.astype(np.intp, copy=False)
        index = np.full(len(self.values), -1, dtype=np.intp)
        index[~self.missing] = inverse
        return dictionary, index

    def levels(self):
        """The sorted distinct values present at fit."""
        dictionary, index = self.encoded()
        used = np.bincount(index[index >= 0], minlength=len(dictionary)) > 0
        return _sorted_levels(dictionary[used])

    def positions(self, levels):
        """Each row's position among the sorted levels, _UNSEEN or _MISSING."""
        dictionary, index = self.encoded()
        lookup = np.append(self._dictionary_positions(levels, dictionary), _MISSING)
        return lookup[index]

    def _dictionary_positions(self, levels, dictionary):
        n = len(dictionary)
        if len(levels) == 0 or n == 0:
            return np.full(n, _UNSEEN, dtype=np.intp)
        if levels.dtype.kind in "biuf" and dictionary.dtype.kind in "biuf":
            found = np.minimum(np.searchsorted(levels, dictionary), len(levels) - 1)
            return np.where(levels[found] == dictionary, found, _UNSEEN)
        position = dict(zip(levels.tolist(), range(len(levels))))
        try:
            return np.fromiter(map(position.get, dictionary.tolist(), repeat(_UNSEEN)), np.intp, n)
        except TypeError as error:
            raise _unhashable(self.label, error) from None


def _objects_as_floats(values):
    types = set(map(type, values))
    foreign = [t for t in types if not issubclass(t, _NUMBER_TYPES)]
    if foreign:
        raise _NonNumeric(_type_names(foreign))
    return values.astype(np.float64)


def _sorted_levels(observed):
    """Sort distinct values: as numbers, as strings, or by text when kinds mix."""
    if observed.dtype.kind != "O":
        return np.sort(observed)
    items = observed.tolist()
    types = set(map(type, items))
    if all(issubclass(t, str) for t in types):
        return _object_array(sorted(items))
    if all(issubclass(t, (numbers.Real, np.bool_)) for t in types):
        numbers_array = np.asarray(items)
        if numbers_array.dtype.kind in "biuf":
            return np.unique(numbers_array)
    if len(types) == 1:
        try:
            return _object_array(sorted(items))
        except TypeError:
            pass
    return _object_array(sorted(items, key=lambda item: (str(item), type(item).__name__)))
