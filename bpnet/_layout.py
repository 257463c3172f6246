"""Where each layer's weights live in the network's one flat parameter vector."""

import numpy as np

from ._activations import ACTIVATION_CODES
from ._kernels import EmbeddingColumn
from ._kernels import LayerColumn as Column


class NetworkLayout:
    """Layer sizes, activations and the offsets of their weights in a flat vector.

    All coefficient blocks come first, layer by layer, each a row-major
    ``(fan_in, fan_out)`` matrix; the intercepts follow, layer by layer. This is the
    order scikit-learn's MLP uses to pack its parameters for L-BFGS, so a flat vector
    here and a packed vector there mean the same thing. Embedding tables, when the
    network has any, come last, each a row-major ``(n_levels, dim)`` matrix.

    Parameters
    ----------
    layer_units : sequence of int
        Widths of every layer, input and output included. The input width counts the
        embeddings' columns, which follow X's own.

    activations : sequence of str
        One activation name per weight layer (``len(layer_units) - 1`` of them); the last
        is the output activation.

    embeddings : sequence of (int, int), default=()
        ``(n_levels, dim)`` of each embedding table, in the order of their input columns.
    """

    def __init__(self, layer_units, activations, embeddings=()):
        self.layer_units = [int(u) for u in layer_units]
        if len(activations) != len(self.layer_units) - 1:
            raise ValueError("need one activation per weight layer")
        self.activations = list(activations)
        self.embeddings = [(int(levels), int(dim)) for levels, dim in embeddings]
        self.n_dense = self.layer_units[0] - sum(dim for _, dim in self.embeddings)
        if self.n_dense < 0:
            raise ValueError("the embeddings are wider than the first layer's input")
        fans = list(zip(self.layer_units[:-1], self.layer_units[1:], strict=True))
        self.n_coefs = sum(fan_in * fan_out for fan_in, fan_out in fans)
        n_weights = self.n_coefs + sum(self.layer_units[1:])
        self.n_params = n_weights + sum(levels * dim for levels, dim in self.embeddings)
        # The kernels' layer table: one row per layer, its columns named by Column.
        table = np.empty((len(fans), Column.N_LAYER_COLUMNS), dtype=np.intp)
        coef_offset, intercept_offset = 0, self.n_coefs
        for i, ((fan_in, fan_out), name) in enumerate(zip(fans, self.activations, strict=True)):
            table[i, Column.FAN_IN], table[i, Column.FAN_OUT] = fan_in, fan_out
            table[i, Column.COEF_OFFSET] = coef_offset
            table[i, Column.INTERCEPT_OFFSET] = intercept_offset
            table[i, Column.ACTIVATION] = ACTIVATION_CODES[name]
            coef_offset += fan_in * fan_out
            intercept_offset += fan_out
        self.table = table
        # The kernels' embedding table: one row per embedding, its columns named by
        # EmbeddingColumn.
        embedding_table = np.empty((len(self.embeddings), EmbeddingColumn.N_COLUMNS), np.intp)
        offset, column = n_weights, self.n_dense
        for i, (levels, dim) in enumerate(self.embeddings):
            embedding_table[i, EmbeddingColumn.LEVELS] = levels
            embedding_table[i, EmbeddingColumn.DIM] = dim
            embedding_table[i, EmbeddingColumn.OFFSET] = offset
            embedding_table[i, EmbeddingColumn.COLUMN] = column
            offset += levels * dim
            column += dim
        self.embedding_table = embedding_table

    @classmethod
    def with_activations(cls, layer_units, hidden_activations, output_activation, embeddings=()):
        """The layout of a network with these hidden activations, one per hidden layer.

        The one place that builds the per-layer activation list: ``hidden_activations``
        (a list, or one name for every hidden layer), then ``output_activation``.
        """
        if isinstance(hidden_activations, str):
            hidden_activations = [hidden_activations] * (len(layer_units) - 2)
        return cls(layer_units, [*hidden_activations, output_activation], embeddings)

    def unpack_embeddings(self, params):
        """Views of ``params`` shaped as the embedding tables, ``(n_levels, dim)`` each."""
        return [
            params[offset : offset + levels * dim].reshape(levels, dim)
            for levels, dim, offset in self.embedding_table[
                :, [EmbeddingColumn.LEVELS, EmbeddingColumn.DIM, EmbeddingColumn.OFFSET]
            ]
        ]

    def unpack(self, params):
        """Views of ``params`` shaped as the lists ``coefs_`` and ``intercepts_``."""
        coefs, intercepts = [], []
        for row in self.table:
            fan_in, fan_out = row[Column.FAN_IN], row[Column.FAN_OUT]
            coef_offset, intercept_offset = row[Column.COEF_OFFSET], row[Column.INTERCEPT_OFFSET]
            coef = params[coef_offset : coef_offset + fan_in * fan_out]
            coefs.append(coef.reshape(fan_in, fan_out))
            intercepts.append(params[intercept_offset : intercept_offset + fan_out])
        return coefs, intercepts

    def pack(self, coefs, intercepts, dtype, embeddings=()):
        """A flat vector holding ``coefs``, ``intercepts`` and the embedding tables,
        sharing their memory if it can.

        After a fit, ``coefs_`` and ``intercepts_`` (and the embedding tables) are views
        of one flat vector, and that vector is returned without a copy. Anything else
        (arrays a user assigned, arrays restored from a pickle, another dtype) is copied
        into a new vector.
        """
        if len(coefs) != len(self.table) or len(intercepts) != len(self.table):
            raise ValueError(
                f"coefs_ and intercepts_ must have {len(self.table)} layers to match "
                f"the layer sizes {self.layer_units}"
            )
        if len(embeddings) != len(self.embeddings):
            raise ValueError(f"the network has {len(self.embeddings)} embedding tables")
        base = coefs[0].base if isinstance(coefs[0], np.ndarray) else None
        arrays = list(coefs) + list(intercepts) + list(embeddings)
        if self._are_views_of(base, arrays, dtype):
            return base
        params = np.empty(self.n_params, dtype=dtype)
        coef_views, intercept_views = self.unpack(params)
        views = coef_views + intercept_views + self.unpack_embeddings(params)
        for view, array in zip(views, arrays, strict=True):
            array = np.asarray(array)
            if array.shape != view.shape:
                raise ValueError(
                    f"a coefs_, intercepts_ or embedding entry has shape {array.shape}, "
                    f"expected {view.shape}"
                )
            view[...] = array
        return params

    def _are_views_of(self, base, arrays, dtype):
        if (
            not isinstance(base, np.ndarray)
            or base.ndim != 1
            or base.size != self.n_params
            or base.dtype != dtype
            or not base.flags.c_contiguous
            or not base.flags.writeable
        ):
            return False
        expected_coefs, expected_intercepts = self.unpack(base)
        expected_arrays = expected_coefs + expected_intercepts + self.unpack_embeddings(base)
        for got, expected in zip(arrays, expected_arrays, strict=True):
            if (
                not isinstance(got, np.ndarray)
                or got.shape != expected.shape
                or got.__array_interface__["data"][0] != expected.__array_interface__["data"][0]
                or got.strides != expected.strides
            ):
                return False
        return True
