# Per-layer kernels: layer forward and backward passes, and the full-batch entries
# (prediction, loss and gradient).
#
# Three layers, as in scikit-learn's _loss module:
#   1. `cdef inline ... noexcept nogil` element math, kept beside each other in
#      _activations.pxd (an activation and its derivative) and _losses.pxd (a loss and
#      its gradient);
#   2. `nogil` loops over a batch (forward_layer, layer_gradient, backprop_delta, ...);
#   3. thin Python entries that validate shapes, release the GIL and call layer 2.
# Every kernel is fused over float32/float64 through `cython.floating`.
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from cpython.exc cimport PyErr_Clear

import enum

import numpy as np

from libc.stdint cimport uint32_t, uint64_t

from ._activations cimport (N_ACTIVATIONS, Activation, activation_derivative,
                            add_bias_and_activate, needs_preactivation)
from ._blas cimport axpy, dot, gemm, gemv, product
from ._elementwise cimport add_column_sums, dropout_row, relu_dropout_delta
from ._losses cimport LossFunction, N_LOSSES, add_loss_terms, loss_and_delta, loss_from_sums
from ._numpy_math cimport numpy_sum
from ._short_products cimport (
    SHORT_SIDE, short_backprop, short_backprop_double_width, short_backprop_float_width,
    short_gradient, short_gradient_double_width, short_gradient_float_width,
    short_vector_bytes,
)
from ._parallel cimport BlockFunction, run_phase, thread_number
from ._random cimport row_key, unit_draw

# The names the kernels' Python entries take, re-exported for their callers.
from ._activations import ACTIVATION_CODES
from ._losses import LOSS_CODES, loss_function

__all__ = ["ACTIVATION_CODES", "LOSS_CODES", "loss_function", "predict", "loss_gradient"]

# The layer table's columns (see _kernels.pxd), for the Python that builds the table.
LayerColumn = enum.IntEnum("LayerColumn", {
    "FAN_IN": FAN_IN, "FAN_OUT": FAN_OUT, "COEF_OFFSET": COEF_OFFSET,
    "INTERCEPT_OFFSET": INTERCEPT_OFFSET, "ACTIVATION": ACTIVATION,
    "N_LAYER_COLUMNS": N_LAYER_COLUMNS,
})

# The embedding table's columns (see _kernels.pxd), for the Python that builds it.
EmbeddingColumn = enum.IntEnum("EmbeddingColumn", {
    "LEVELS": EMBEDDING_LEVELS, "DIM": EMBEDDING_DIM, "OFFSET": EMBEDDING_OFFSET,
    "COLUMN": EMBEDDING_COLUMN, "N_COLUMNS": N_EMBEDDING_COLUMNS,
})

cdef class CBuffer:
    """``n_bytes`` of zeroed C memory, freed with the object.

    Kernels that need C memory (tables of structs) hold it this way, so that an
    exception anywhere between the allocation and the end of the kernel cannot leak it.
    """

    def __cinit__(self, Py_ssize_t n_bytes):
        self.data = malloc(max(1, n_bytes))
        if self.data == NULL:
            raise MemoryError()
        memset(self.data, 0, max(1, n_bytes))

    def __dealloc__(self):
        free(self.data)


# --- 2. loops over a batch -----------------------------------------------------------

cdef inline Py_ssize_t weight_range_start(const Py_ssize_t[:, ::1] table, Py_ssize_t k) noexcept:
    """Start of weight range k: layer k // 2's coefficients (k even) or intercepts (odd)."""
    return table[k // 2, COEF_OFFSET] if k % 2 == 0 else table[k // 2, INTERCEPT_OFFSET]


cdef inline Py_ssize_t weight_range_stop(const Py_ssize_t[:, ::1] table, Py_ssize_t k) noexcept:
    cdef Py_ssize_t layer = k // 2
    if k % 2 == 0:
        return table[layer, COEF_OFFSET] + table[layer, FAN_IN] * table[layer, FAN_OUT]
    return table[layer, INTERCEPT_OFFSET] + table[layer, FAN_OUT]


cdef CBuffer layers_from_table(const Py_ssize_t[:, ::1] table, Py_ssize_t n_params):
    """Copy a (n_layers, N_LAYER_COLUMNS) table into a buffer of Layer structs.

    The table is checked to chain (each fan_in is the previous fan_out) and, unless
    n_params is negative, to fit inside a parameter vector of that length without two
    layers sharing a parameter.
    """
    cdef Py_ssize_t i, n_layers = table.shape[0]
    if table.shape[1] != N_LAYER_COLUMNS or n_layers < 1:
        raise ValueError(f"the layer table must have shape (n_layers, {N_LAYER_COLUMNS})")
    for i in range(n_layers):
        if table[i, FAN_IN] < 1 or table[i, FAN_OUT] < 1:
            raise ValueError(f"layer {i} has an empty dimension")
        if i > 0 and table[i, FAN_IN] != table[i - 1, FAN_OUT]:
            raise ValueError(f"layer {i}'s fan_in differs from layer {i - 1}'s fan_out")
        if n_params >= 0 and (
                table[i, COEF_OFFSET] < 0
                or weight_range_stop(table, 2 * i) > n_params
                or table[i, INTERCEPT_OFFSET] < 0
                or weight_range_stop(table, 2 * i + 1) > n_params):
            raise ValueError(f"layer {i}'s weights do not fit in {n_params} parameters")
        if not 0 <= table[i, ACTIVATION] < N_ACTIVATIONS:
            raise ValueError(f"layer {i} has an unknown activation code {table[i, ACTIVATION]}")
    if n_params >= 0:
        # Blocks of one epoch write their layers' weights at the same time: no two of
        # the weight ranges may overlap.
        for i in range(2 * n_layers):
            for j in range(i + 1, 2 * n_layers):
                if (weight_range_start(table, i) < weight_range_stop(table, j)
                        and weight_range_start(table, j) < weight_range_stop(table, i)):
                    raise ValueError(f"layers {i // 2} and {j // 2} share parameters")
    cdef CBuffer buffer = CBuffer(n_layers * sizeof(Layer))
    cdef Layer* layers = <Layer*> buffer.data
    for i in range(n_layers):
        layers[i].fan_in = table[i, FAN_IN]
        layers[i].fan_out = table[i, FAN_OUT]
        layers[i].coef_offset = table[i, COEF_OFFSET]
        layers[i].intercept_offset = table[i, INTERCEPT_OFFSET]
        layers[i].activation = <int> table[i, ACTIVATION]
    return buffer


cdef inline Py_ssize_t embedding_stop(const Py_ssize_t[:, ::1] table, Py_ssize_t t) noexcept:
    """End of embedding t's rows in the parameter vector."""
    return table[t, EMBEDDING_OFFSET] + table[t, EMBEDDING_LEVELS] * table[t, EMBEDDING_DIM]


cdef CBuffer embeddings_from_table(const Py_ssize_t[:, ::1] table,
                                   const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_params,
                                   Py_ssize_t n_dense):
    """Copy a (n_embeddings, N_EMBEDDING_COLUMNS) table (None for none) into a buffer of
    Embedding structs.

    The embeddings must fill the first layer's inputs after X's n_dense columns, one after
    another to the last, and their rows must fit in a parameter vector of n_params
    without sharing a parameter with each other or with a layer (their rows are updated
    at the same time as the layers' weights).
    """
    cdef Py_ssize_t t, k, n = 0 if table is None else table.shape[0]
    cdef Py_ssize_t column = n_dense, start, stop
    if n and table.shape[1] != N_EMBEDDING_COLUMNS:
        raise ValueError(f"the embedding table must have shape (n_embeddings, "
                         f"{N_EMBEDDING_COLUMNS})")
    for t in range(n):
        if table[t, EMBEDDING_LEVELS] < 1 or table[t, EMBEDDING_DIM] < 1:
            raise ValueError(f"embedding {t} has an empty dimension")
        if table[t, EMBEDDING_COLUMN] != column:
            raise ValueError(f"embedding {t} must fill the first layer's inputs from column "
                             f"{column}")
        column += table[t, EMBEDDING_DIM]
        start, stop = table[t, EMBEDDING_OFFSET], embedding_stop(table, t)
        if start < 0 or stop > n_params:
            raise ValueError(f"embedding {t}'s rows do not fit in {n_params} parameters")
        for k in range(2 * layer_table.shape[0]):
            if (start < weight_range_stop(layer_table, k)
                    and weight_range_start(layer_table, k) < stop):
                raise ValueError(f"embedding {t} shares parameters with layer {k // 2}")
        for k in range(t):
            if start < embedding_stop(table, k) and table[k, EMBEDDING_OFFSET] < stop:
                raise ValueError(f"embeddings {k} and {t} share parameters")
    if column != layer_table[0, FAN_IN]:
        raise ValueError(f"X's {n_dense} columns and the embeddings' {column - n_dense} must "
                         f"make the first layer's {layer_table[0, FAN_IN]} inputs")
    cdef CBuffer buffer = CBuffer(n * sizeof(Embedding))
    cdef Embedding* embeddings = <Embedding*> buffer.data
    for t in range(n):
        embeddings[t].n_levels = table[t, EMBEDDING_LEVELS]
        embeddings[t].dim = table[t, EMBEDDING_DIM]
        embeddings[t].offset = table[t, EMBEDDING_OFFSET]
        embeddings[t].column = table[t, EMBEDDING_COLUMN]
    return buffer


cdef EmbeddingInput embedding_input(CBuffer embeddings, Py_ssize_t n_embeddings,
                                    const int[:, ::1] codes, Py_ssize_t n_rows):
    """The embeddings with the codes of X's n_rows rows, checked: one code per row and
    embedding, each a row of its table."""
    cdef EmbeddingInput embedded
    cdef const Embedding* tables = <const Embedding*> embeddings.data
    cdef Py_ssize_t i, t
    embedded.embeddings = tables
    embedded.n_embeddings = n_embeddings
    embedded.codes = NULL
    if n_embeddings == 0:
        if codes is not None and codes.shape[1] != 0:
            raise ValueError("codes were given for a network without embeddings")
        return embedded
    if codes is None or codes.shape[0] != n_rows or codes.shape[1] != n_embeddings:
        raise ValueError(f"codes must have shape ({n_rows}, {n_embeddings}): one code per "
                         "row of X and embedding")
    for i in range(n_rows):
        for t in range(n_embeddings):
            if not 0 <= codes[i, t] < tables[t].n_levels:
                raise ValueError(f"codes[{i}, {t}] = {codes[i, t]} is not a row of embedding "
                                 f"{t}, which has {tables[t].n_levels}")
    if n_rows > 0:
        embedded.codes = &codes[0, 0]
    return embedded


cdef void forward_layer(const Layer* layer, const floating* params, const floating* inputs,
                        Py_ssize_t n_rows, Py_ssize_t col_start, Py_ssize_t col_stop,
                        floating* out, floating* pre, bint numpy_order) noexcept nogil:
    """Columns col_start...col_stop-1 of out = f(inputs @ W + b), for dense inputs of shape
    (n_rows, fan_in).

    `out` and `pre` hold the layer's whole (n_rows, fan_out) rows; only the columns in
    range are written. `pre`, when not NULL, receives those columns of inputs @ W + b.
    With `numpy_order` (whole layers only), as NumPy computes it.
    """
    cdef Py_ssize_t fan_out = layer.fan_out, n_cols = col_stop - col_start
    if numpy_order:
        product(False, False, <int> n_rows, <int> fan_out, <int> layer.fan_in, inputs,
                <int> layer.fan_in, params + layer.coef_offset, <int> fan_out, out,
                <int> fan_out)
    else:
        gemm(False, False, <int> n_rows, <int> n_cols, <int> layer.fan_in, <floating> 1.0,
             inputs, <int> layer.fan_in, params + layer.coef_offset + col_start,
             <int> fan_out, <floating> 0.0, out + col_start, <int> fan_out)
    add_bias_and_activate(params + layer.intercept_offset + col_start, layer.activation,
                          out + col_start, pre + col_start if pre != NULL else NULL, n_rows,
                          n_cols, fan_out, numpy_order)


cdef void forward_layer_csr(const Layer* layer, const floating* params, RowBlock block,
                            Py_ssize_t col_start, Py_ssize_t col_stop, floating* out,
                            floating* pre, bint numpy_order) noexcept nogil:
    """Columns col_start...col_stop-1 of out = f(X[rows] @ W + b) for CSR rows, touching
    only their nonzeros (out and pre as in forward_layer)."""
    cdef const floating* data = <const floating*> block.csr_data
    cdef const floating* coef = params + layer.coef_offset + col_start
    cdef Py_ssize_t r, row, p, fan_out = layer.fan_out, n_cols = col_stop - col_start
    cdef floating* out_row
    for r in range(block.n_rows):
        row = block_row(block, r)
        out_row = out + r * fan_out + col_start
        memset(out_row, 0, n_cols * sizeof(floating))
        for p in range(block.csr_indptr[row], block.csr_indptr[row + 1]):
            axpy(<int> n_cols, data[p], coef + block.csr_indices[p] * fan_out, out_row)
    add_bias_and_activate(params + layer.intercept_offset + col_start, layer.activation,
                          out + col_start, pre + col_start if pre != NULL else NULL,
                          block.n_rows, n_cols, fan_out, numpy_order)


cdef void apply_dropout(const Layer* layers, Py_ssize_t index, const LayerBuffers* buffers,
                        floating* acts, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                        Py_ssize_t n_rows, Py_ssize_t col_start,
                        Py_ssize_t col_stop) noexcept nogil:
    """Inverted dropout on units col_start...col_stop-1 of layer `index`'s outputs, for
    rows row_offset...row_offset+n_rows-1 of the batch.

    Each unit is kept with probability 1 - rate, its draw keyed by (seed, epoch, row in
    the training data, unit); mask receives 1 / (1 - rate) or 0 (except for relu
    layers, see keeps_mask), dropped the outputs times the mask. A draw has 16 bits, so
    the rate is kept to 2**-16; one hash serves four units.
    """
    cdef const Layer* layer = &layers[index]
    cdef Py_ssize_t r
    cdef Py_ssize_t fan_out = layer.fan_out, unit_base = total_width(layers, index)
    cdef double rate = buffers.dropout[index]
    cdef uint32_t threshold = <uint32_t> (rate * 65536.0)
    cdef floating scale = dropout_scale(buffers, index, <floating> 0)
    cdef const floating* outputs = layer_output(layers, index, acts, batch_rows, row_offset)
    cdef floating* mask = NULL
    cdef floating* dropped = layer_output(layers, index, <floating*> buffers.dropped,
                                          batch_rows, row_offset)
    if keeps_mask(layers, index):
        mask = layer_output(layers, index, <floating*> buffers.mask, batch_rows, row_offset)
    cdef uint64_t key
    cdef Py_ssize_t at
    for r in range(n_rows):
        key = row_key(buffers.seed, buffers.epoch, buffers.row_ids[row_offset + r])
        at = r * fan_out + col_start
        dropout_row(key, unit_base + col_start, col_stop - col_start, threshold, scale,
                    outputs + at, mask + at if mask != NULL else NULL, dropped + at)


cdef void forward_block(const Layer* layers, Py_ssize_t index, const floating* params,
                        RowBlock block, const LayerBuffers* buffers, Py_ssize_t batch_rows,
                        Py_ssize_t row_offset, Py_ssize_t col_start,
                        Py_ssize_t col_stop) noexcept nogil:
    """Columns col_start...col_stop-1 of layer `index`'s outputs for the block's rows, rows
    row_offset... of a batch of batch_rows, and the layer's dropout on them.

    The first layer reads the block (the batch's input rows); the others read the
    previous layer's outputs after dropout, from the batch-wide buffers. The outputs land
    in the batch-wide buffers at layer_output(layers, index, acts, batch_rows,
    row_offset), so that blocks of rows and of columns can run separately (and at the
    same time) and leave the batch's activations behind.
    """
    cdef Py_ssize_t n_rows = block.n_rows
    cdef floating* acts = <floating*> buffers.acts
    cdef floating* out = layer_output(layers, index, acts, batch_rows, row_offset)
    cdef floating* pre = preactivation_rows(layers, index, <floating*> buffers.pre, batch_rows,
                                            row_offset)
    if index > 0:
        forward_layer(&layers[index], params,
                      next_layer_inputs(layers, index - 1, buffers, acts, batch_rows,
                                        row_offset),
                      n_rows, col_start, col_stop, out, pre, buffers.numpy_order)
    elif not block.sparse:
        forward_layer(&layers[0], params, <const floating*> block.dense, n_rows, col_start,
                      col_stop, out, pre, buffers.numpy_order)
    else:
        forward_layer_csr(&layers[0], params, block, col_start, col_stop, out, pre,
                          buffers.numpy_order)
    if has_dropout(buffers, index):
        apply_dropout(layers, index, buffers, acts, batch_rows, row_offset, n_rows, col_start,
                      col_stop)


cdef void forward_row(const Layer* layer, const floating* params, const floating* inputs,
                      Py_ssize_t col_start, Py_ssize_t col_stop, floating* out) noexcept nogil:
    """Columns col_start...col_stop-1 of one row's out = f(inputs @ W + b), by BLAS's
    matrix-vector product, which reads the weights where they are; a matrix product
    first packs them, a cost a single row does not repay. Prediction only: no
    preactivations are kept and no dropout applies."""
    cdef Py_ssize_t fan_out = layer.fan_out, n_cols = col_stop - col_start
    gemv(True, <int> layer.fan_in, <int> n_cols, params + layer.coef_offset + col_start,
         <int> fan_out, inputs, 1, out + col_start, 1)
    add_bias_and_activate(params + layer.intercept_offset + col_start, layer.activation,
                          out + col_start, NULL, 1, n_cols, fan_out, False)


cdef void forward_network(const Layer* layers, Py_ssize_t n_layers, const floating* params,
                          RowBlock block, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                          const LayerBuffers* buffers) noexcept nogil:
    """Run every layer, whole, on the block's rows, rows row_offset... of a batch of
    batch_rows (see forward_block)."""
    cdef Py_ssize_t layer_index
    for layer_index in range(n_layers):
        forward_block(layers, layer_index, params, block, buffers, batch_rows, row_offset, 0,
                      layers[layer_index].fan_out)


cdef inline Py_ssize_t piece_width(Py_ssize_t fan_out, Py_ssize_t row_work,
                                   Py_ssize_t work) noexcept nogil:
    """The width of the fewest pieces of (nearly) equal widths into which a layer's
    fan_out columns cut so that each carries at most `work` multiply-adds, a column
    carrying `row_work` (at least one column a piece)."""
    cdef Py_ssize_t widest = max(1, work // max(1, row_work))
    cdef Py_ssize_t n_pieces = (fan_out + widest - 1) // widest
    return (fan_out + n_pieces - 1) // n_pieces


cdef void predict_forward(const Layer* layers, Py_ssize_t n_layers, const floating* params,
                          RowBlock block, const LayerBuffers* buffers, Py_ssize_t piece_work,
                          Py_ssize_t vector_work) noexcept nogil:
    """forward_network for a prediction's chunk, each layer's product cut into pieces.

    With `piece_work` 0 each layer runs whole. Otherwise each layer's product is cut
    into pieces of whole output columns, of at most `piece_work` multiply-adds where one
    column allows it: a piece then stays below a BLAS library's threshold for threading
    without cutting the rows, so the weights are packed once, not once per cut of rows.
    A nonzero `vector_work` runs a chunk of one dense row by matrix-vector products
    instead (forward_row), in pieces of at most `vector_work` multiply-adds, BLAS's
    threshold for threading those. The pieces follow from the shapes alone; BLAS may
    round an output's sum a little differently in a narrower piece, never differently
    for another thread count. A softmax layer, which needs whole rows, runs whole (by a
    matrix product if a single matrix-vector product would pass `vector_work`).
    """
    cdef Py_ssize_t layer_index, fan_out, fan_in, step, start, n_rows = block.n_rows
    cdef bint by_vector, whole
    cdef floating* acts = <floating*> buffers.acts
    cdef const floating* inputs
    for layer_index in range(n_layers):
        fan_out = layers[layer_index].fan_out
        fan_in = layers[layer_index].fan_in
        whole = piece_work == 0 or layers[layer_index].activation == Activation.SOFTMAX
        by_vector = (vector_work > 0 and n_rows == 1 and not (layer_index == 0 and block.sparse)
                     and not (whole and fan_in * fan_out > vector_work))
        step = fan_out
        if not whole:
            step = piece_width(fan_out, n_rows * fan_in,
                               vector_work if by_vector else piece_work)
        inputs = (<const floating*> block.dense if layer_index == 0 else
                  layer_output(layers, layer_index - 1, acts, n_rows, 0))
        start = 0
        while start < fan_out:
            if by_vector:
                forward_row(&layers[layer_index], params, inputs, start,
                            min(start + step, fan_out),
                            layer_output(layers, layer_index, acts, n_rows, 0))
            else:
                forward_block(layers, layer_index, params, block, buffers, n_rows, 0, start,
                              min(start + step, fan_out))
            start += step


cdef void layer_gradient(const Layer* layer, RowBlock inputs, const floating* delta,
                         floating* grads, Py_ssize_t in_start, Py_ssize_t in_stop,
                         bint with_intercepts, bint accumulate, bint numpy_order) noexcept nogil:
    """Rows in_start...in_stop-1 of dW = inputs^T delta, and db = column sums of delta.

    `inputs` holds the layer's input rows: dense, or CSR for the first layer (only its
    nonzeros are touched). db is computed only `with_intercepts`. Each gradient entry
    sums over the rows in the same order whatever the range, so splitting a layer's
    gradient into ranges gives the same numbers as computing it whole. When
    `accumulate`, the results are added to `grads` instead of replacing them. With
    `numpy_order` (and not `accumulate`), the products and sums are NumPy's; otherwise a
    layer with fewer than SHORT_SIDE inputs or outputs takes bpnet's short loop, the
    others BLAS.
    """
    cdef Py_ssize_t r, row, p, j, n_rows = inputs.n_rows, fan_out = layer.fan_out
    cdef floating* grad_w = grads + layer.coef_offset
    cdef floating* grad_b = grads + layer.intercept_offset
    cdef const floating* data
    cdef bint bias_done = False
    if in_stop > in_start:
        if not inputs.sparse and numpy_order and not accumulate:
            product(True, False, <int> (in_stop - in_start), <int> fan_out, <int> n_rows,
                    <const floating*> inputs.dense + in_start, <int> layer.fan_in, delta,
                    <int> fan_out, grad_w + in_start * fan_out, <int> fan_out)
        elif not inputs.sparse and (layer.fan_in < SHORT_SIDE or fan_out < SHORT_SIDE):
            short_gradient(<const floating*> inputs.dense + in_start, layer.fan_in, n_rows,
                           in_stop - in_start, delta, fan_out, grad_w + in_start * fan_out,
                           not accumulate, grad_b if with_intercepts else NULL)
            # It added up db as add_column_sums does below (NumPy's order never gets here).
            bias_done = with_intercepts
        elif not inputs.sparse:
            gemm(True, False, <int> (in_stop - in_start), <int> fan_out, <int> n_rows,
                 <floating> 1.0, <const floating*> inputs.dense + in_start,
                 <int> layer.fan_in, delta, <int> fan_out,
                 <floating> (1.0 if accumulate else 0.0), grad_w + in_start * fan_out,
                 <int> fan_out)
        else:
            data = <const floating*> inputs.csr_data
            if not accumulate:
                memset(grad_w + in_start * fan_out, 0,
                       (in_stop - in_start) * fan_out * sizeof(floating))
            for r in range(n_rows):
                row = block_row(inputs, r)
                for p in range(inputs.csr_indptr[row], inputs.csr_indptr[row + 1]):
                    j = inputs.csr_indices[p]
                    if in_start <= j < in_stop:
                        axpy(<int> fan_out, data[p], delta + r * fan_out,
                             grad_w + j * fan_out)
    if bias_done:
        return
    if with_intercepts and numpy_order and not accumulate and fan_out == 1:
        # np.sum(delta, axis=0) of a single column is a pairwise sum.
        grad_b[0] = numpy_sum(delta, n_rows, 1)
    elif with_intercepts:
        if not accumulate:
            memset(grad_b, 0, fan_out * sizeof(floating))
        add_column_sums(delta, grad_b, n_rows, fan_out, fan_out)


cdef void backprop_delta(const Layer* layer, const floating* params, const floating* delta,
                         Py_ssize_t n_rows, const Layer* previous,
                         const floating* previous_output, const floating* previous_pre,
                         const floating* previous_mask, const floating* previous_dropped,
                         floating scale, floating* previous_delta, Py_ssize_t col_start,
                         Py_ssize_t col_stop, bint numpy_order) noexcept nogil:
    """Columns col_start...col_stop-1 of previous_delta = (delta @ W^T) * mask * f'(z),
    f being the previous layer's activation.

    The previous_* matrices hold the previous layer's whole (n_rows, fan_in) rows; only
    the columns in range are read and written. `previous_mask` is its dropout mask, or
    NULL without dropout or for a relu layer, which has `previous_dropped` (its outputs
    after dropout, multiplied by `scale` where kept) instead; `previous_pre` is its z, or
    NULL unless its derivative needs it. With `numpy_order` (whole layers only), the
    product is NumPy's; otherwise through a layer of fewer than SHORT_SIDE units it is
    bpnet's short loop, through wider ones BLAS.
    """
    cdef Py_ssize_t fan_in = layer.fan_in, n_cols = col_stop - col_start
    cdef Py_ssize_t i, j
    cdef bint fuse_relu
    cdef floating* out = previous_delta + col_start
    # The weights into the previous layer's units col_start...col_stop-1: one row each.
    cdef const floating* weights = params + layer.coef_offset + col_start * layer.fan_out
    if numpy_order:
        product(False, True, <int> n_rows, <int> fan_in, <int> layer.fan_out, delta,
                <int> layer.fan_out, params + layer.coef_offset, <int> layer.fan_out,
                previous_delta, <int> fan_in)
    elif layer.fan_out < SHORT_SIDE:
        # Into a relu layer without dropout, relu's derivative is taken in the product's
        # stores (the same selection as relu_derivative's), not in a second pass.
        fuse_relu = (previous.activation == Activation.RELU and previous_dropped == NULL
                     and previous_mask == NULL)
        short_backprop(delta, n_rows, layer.fan_out, weights, n_cols, out, fan_in,
                       previous_output + col_start if fuse_relu else NULL)
        if fuse_relu:
            return
    else:
        gemm(False, True, <int> n_rows, <int> n_cols, <int> layer.fan_out, <floating> 1.0,
             delta, <int> layer.fan_out, weights, <int> layer.fan_out, <floating> 0.0, out,
             <int> fan_in)
    if previous_dropped != NULL and previous.activation == Activation.RELU:
        relu_dropout_delta(previous_dropped + col_start, scale, out, n_rows, n_cols, fan_in)
        return
    if previous_mask != NULL:
        for i in range(n_rows):
            for j in range(i * fan_in + col_start, i * fan_in + col_stop):
                previous_delta[j] *= previous_mask[j]
    activation_derivative(previous.activation, previous_output + col_start,
                          previous_pre + col_start if previous_pre != NULL else NULL, out,
                          n_rows, n_cols, fan_in)


cdef void backward_block(const Layer* layers, Py_ssize_t index, const floating* params,
                         const LayerBuffers* buffers, Py_ssize_t batch_rows,
                         Py_ssize_t row_offset, Py_ssize_t n_rows, Py_ssize_t col_start,
                         Py_ssize_t col_stop) noexcept nogil:
    """Columns col_start...col_stop-1 of layer index - 1's delta, for rows row_offset...
    row_offset+n_rows-1 of a batch of batch_rows, from layer `index`'s delta: through its
    weights, the previous layer's dropout mask and its activation's derivative. Reads
    and writes the batch-wide buffers."""
    cdef const LayerBuffers* b = buffers
    cdef floating* previous_mask = NULL
    cdef floating* previous_dropped = NULL
    cdef floating scale = 1
    if has_dropout(b, index - 1):
        scale = dropout_scale(b, index - 1, scale)
        previous_dropped = layer_output(layers, index - 1, <floating*> b.dropped, batch_rows,
                                        row_offset)
        if keeps_mask(layers, index - 1):
            previous_mask = layer_output(layers, index - 1, <floating*> b.mask, batch_rows,
                                         row_offset)
    backprop_delta(&layers[index], params,
                   layer_output(layers, index, <floating*> b.deltas, batch_rows, row_offset),
                   n_rows, &layers[index - 1],
                   layer_output(layers, index - 1, <floating*> b.acts, batch_rows, row_offset),
                   preactivation_rows(layers, index - 1, <floating*> b.pre, batch_rows,
                                      row_offset),
                   previous_mask, previous_dropped, scale,
                   layer_output(layers, index - 1, <floating*> b.deltas, batch_rows, row_offset),
                   col_start, col_stop, b.numpy_order)


cdef double forward_and_deltas(const Layer* layers, Py_ssize_t n_layers,
                               const LossFunction* loss, const floating* params,
                               RowBlock block, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                               const floating* y, const floating* sample_weight,
                               const LayerBuffers* buffers) noexcept nogil:
    """Forward pass, loss and every layer's delta for rows row_offset... of a batch.

    `y` and `sample_weight` point at the block's own rows. Activations and deltas land
    in the batch-wide buffers (see forward_block); each row depends on its own row
    only. Returns the weighted loss summed over the block's rows.
    """
    cdef Py_ssize_t layer_index, n_rows = block.n_rows, last = n_layers - 1
    cdef double data_loss
    forward_network(layers, n_layers, params, block, batch_rows, row_offset, buffers)
    data_loss = loss_and_delta(
        loss, layer_output(layers, last, <floating*> buffers.acts, batch_rows, row_offset), y,
        sample_weight, n_rows, layers[last].fan_out,
        layer_output(layers, last, <floating*> buffers.deltas, batch_rows, row_offset))
    for layer_index in range(last, 0, -1):
        backward_block(layers, layer_index, params, buffers, batch_rows, row_offset, n_rows, 0,
                       layers[layer_index - 1].fan_out)
    return data_loss


cdef RowBlock layer_inputs(const Layer* layers, Py_ssize_t index, RowBlock block,
                           const LayerBuffers* buffers, floating* acts) noexcept nogil:
    """The rows that layer `index` reads: the batch's input block, or the previous layer's
    outputs `acts` after dropout (for a batch of block.n_rows rows)."""
    cdef RowBlock inputs = block
    if index > 0:
        inputs.sparse = False
        inputs.dense = next_layer_inputs(layers, index - 1, buffers, acts, block.n_rows, 0)
    return inputs


cdef double forward_backward(const Layer* layers, Py_ssize_t n_layers, const LossFunction* loss,
                             const floating* params, RowBlock block, const floating* y,
                             const floating* sample_weight, const LayerBuffers* buffers,
                             floating* grads, bint accumulate) noexcept nogil:
    """Forward pass, loss and backward pass for one block of rows.

    Writes the unnormalised data gradient (sum over rows of weight * dloss/dparams) into
    `grads`, or adds it when `accumulate`; returns the weighted loss summed over rows.
    The L2 term and the division by the weight sum are the caller's.
    """
    cdef Py_ssize_t layer_index, n_rows = block.n_rows
    cdef double data_loss = forward_and_deltas(layers, n_layers, loss, params, block, n_rows,
                                               0, y, sample_weight, buffers)
    for layer_index in range(n_layers):
        layer_gradient(&layers[layer_index],
                       layer_inputs(layers, layer_index, block, buffers, <floating*> buffers.acts),
                       layer_output(layers, layer_index, <floating*> buffers.deltas, n_rows, 0),
                       grads, 0, layers[layer_index].fan_in, True, accumulate,
                       buffers.numpy_order)
    return data_loss


cdef LayerBuffers no_buffers() noexcept nogil:
    """LayerBuffers with every buffer NULL (all bits zero) and no dropout, to fill in."""
    cdef LayerBuffers buffers
    memset(&buffers, 0, sizeof(LayerBuffers))
    return buffers


cdef bint any_needs_preactivation(const Layer* layers, Py_ssize_t n_layers) noexcept nogil:
    cdef Py_ssize_t layer_index
    for layer_index in range(n_layers):
        if needs_preactivation(layers[layer_index].activation):
            return True
    return False


# --- 3. Python entries ---------------------------------------------------------------

cdef RowBlock make_block(bint sparse, const floating[:, ::1] X, const floating[::1] X_data,
                         const int[::1] X_indices, const int[::1] X_indptr,
                         Py_ssize_t row_start, Py_ssize_t n_rows) noexcept nogil:
    """A RowBlock over rows row_start... of dense X, or of the CSR arrays when `sparse`."""
    cdef RowBlock block = csr_block(sparse, X_data, X_indices, X_indptr)
    block.row_start = row_start
    block.n_rows = n_rows
    if not sparse:
        block.dense = &X[row_start, 0]
    return block


cdef RowBlock csr_block(bint sparse, const floating[::1] X_data, const int[::1] X_indices,
                        const int[::1] X_indptr) noexcept nogil:
    """A RowBlock over the CSR arrays when `sparse`; else one whose dense rows are for
    the caller to point at (NULL here)."""
    cdef RowBlock block
    memset(&block, 0, sizeof(RowBlock))  # no pointer set: NULL
    block.sparse = sparse
    if sparse:
        block.csr_data = &X_data[0] if X_data.shape[0] > 0 else NULL
        block.csr_indices = &X_indices[0] if X_indices.shape[0] > 0 else NULL
        block.csr_indptr = &X_indptr[0]
    return block


cdef extern from "Python.h":
    # Declared here without Cython's `except -1`, so that a raised KeyboardInterrupt is
    # seen as a return value instead of being reported as unraisable.
    int check_signals "PyErr_CheckSignals" ()


cdef bint signal_pending() noexcept nogil:
    """Whether a signal handler (Ctrl-C) has raised; the exception is cleared.

    Long nogil loops call this between blocks of work so that an interruption is noticed
    promptly; the caller then stops and raises KeyboardInterrupt itself.
    """
    cdef bint pending = False
    with gil:
        if check_signals() != 0:
            PyErr_Clear()
            pending = True
    return pending


cdef Py_ssize_t n_input_rows(bint sparse, const input_floating[:, ::1] X,
                             const int[::1] X_indptr) noexcept nogil:
    """Number of rows of the input: X's, or the CSR matrix's when `sparse`."""
    return X_indptr.shape[0] - 1 if sparse else X.shape[0]


# Rows predicted between two looks for a pending signal.
cdef enum:
    PREDICT_SIGNAL_ROWS = 65536


# What the chunks of a prediction share; each thread has its own activation buffer, and
# its own rows of X converted to the network's type when X has another.
cdef struct PredictWork:
    const Layer* layers
    Py_ssize_t n_layers
    const void* params
    RowBlock block
    const void* X               # dense X, in its own type
    bint x_double               # whether X is float64
    void* converted             # per thread: chunk_rows first-layer input rows (X's rows
                                # in the network's type, then the embeddings), or NULL
                                # when X has that type and no embeddings follow
    Py_ssize_t n_features
    EmbeddingInput embedded     # the embeddings and X's codes; none for most networks
    Py_ssize_t n_rows
    Py_ssize_t chunk_rows
    Py_ssize_t piece_work       # see predict_forward
    Py_ssize_t vector_work      # see predict_forward
    Py_ssize_t width
    Py_ssize_t first_chunk
    void* acts
    void* out


def predict(const Py_ssize_t[:, ::1] layer_table, const floating[::1] params, bint sparse,
            const input_floating[:, ::1] X, const floating[::1] X_data,
            const int[::1] X_indices, const int[::1] X_indptr, floating[:, ::1] out,
            Py_ssize_t chunk_rows=512, int n_threads=1,
            const Py_ssize_t[:, ::1] embedding_table=None, const int[:, ::1] codes=None,
            Py_ssize_t piece_work=0, Py_ssize_t vector_work=0):
    """Write the network's outputs for every input row into `out`.

    The input is X when not `sparse`, else the CSR matrix given by (X_data, X_indices,
    X_indptr) (see bpnet/_data.py). A dense X may have another float type than the
    network's: each chunk's rows are converted as they are read. A network with
    embeddings (`embedding_table`, see _layout.py) reads a dense X and, for each row,
    one code per embedding in `codes`: the first layer's inputs are X's columns, then
    the embeddings' rows they pick. Rows are processed in chunks of `chunk_rows`, the
    chunks shared among `n_threads` threads; each row's outputs depend on the chunks,
    which depend on the row count alone, never on the threads. A nonzero `piece_work`
    cuts each layer's product on a chunk into pieces of columns, and a nonzero
    `vector_work` runs chunks of one row by matrix-vector products (see
    predict_forward).
    """
    cdef Py_ssize_t n_rows = n_input_rows(sparse, X, X_indptr)
    cdef Py_ssize_t n_layers = layer_table.shape[0]
    cdef Py_ssize_t n_out = layer_table[n_layers - 1, FAN_OUT]
    if out.shape[0] != n_rows or out.shape[1] != n_out:
        raise ValueError(f"out must have shape ({n_rows}, {n_out})")
    cdef Py_ssize_t n_embeddings = 0 if embedding_table is None else embedding_table.shape[0]
    check_input_width(sparse, X, layer_table, n_embeddings)
    cdef CBuffer embeddings = embeddings_from_table(
        embedding_table, layer_table, params.shape[0],
        X.shape[1] if n_embeddings else layer_table[0, FAN_IN])
    cdef EmbeddingInput embedded = embedding_input(embeddings, n_embeddings, codes, n_rows)
    if n_rows == 0:
        return
    chunk_rows = max(1, min(chunk_rows, n_rows))
    cdef Py_ssize_t n_chunks = (n_rows + chunk_rows - 1) // chunk_rows
    n_threads = <int> max(1, min(<Py_ssize_t> n_threads, n_chunks))
    cdef CBuffer table = layers_from_table(layer_table, params.shape[0])
    cdef PredictWork work
    work.layers = <const Layer*> table.data
    work.n_layers = n_layers
    work.params = &params[0]
    work.block = csr_block(sparse, X_data, X_indices, X_indptr)
    work.X = &X[0, 0] if not sparse else NULL
    work.x_double = input_floating is double
    work.n_features = X.shape[1]
    work.embedded = embedded
    work.n_rows = n_rows
    work.chunk_rows = chunk_rows
    work.piece_work = max(0, piece_work)
    work.vector_work = max(0, vector_work)
    work.width = total_width(work.layers, n_layers)
    dtype = np.asarray(params).dtype
    cdef floating[::1] acts = np.empty(n_threads * chunk_rows * work.width, dtype=dtype)
    # Rows are copied out of X when they change type or gain embedding columns.
    cdef bint copies_rows = not sparse and (
        sizeof(floating) != sizeof(input_floating) or n_embeddings > 0)
    cdef floating[::1] converted = np.empty(
        n_threads * chunk_rows * layer_table[0, FAN_IN] if copies_rows else 1, dtype=dtype)
    work.acts = &acts[0]
    work.converted = &converted[0] if copies_rows else NULL
    work.out = &out[0, 0]
    cdef BlockFunction run_chunk = (predict_chunk_double if floating is double
                                    else predict_chunk_float)
    cdef Py_ssize_t first = 0, round_chunks = max(1, PREDICT_SIGNAL_ROWS // chunk_rows)
    cdef bint interrupted = False
    with nogil:
        # Rounds of chunks, with a look for Ctrl-C between them.
        while first < n_chunks and not interrupted:
            work.first_chunk = first
            run_phase(run_chunk, &work, 0, min(round_chunks, n_chunks - first), n_threads)
            first += round_chunks
            interrupted = signal_pending()
    if interrupted:
        raise KeyboardInterrupt


cdef void predict_chunk(PredictWork* work, Py_ssize_t index, floating* acts_all) noexcept nogil:
    """Forward pass of chunk first_chunk + index into the thread's own buffer, then its
    outputs into `out`."""
    cdef Py_ssize_t chunk = work.first_chunk + index
    cdef Py_ssize_t start = chunk * work.chunk_rows
    cdef Py_ssize_t n_rows = min(start + work.chunk_rows, work.n_rows) - start
    cdef Py_ssize_t n_out = work.layers[work.n_layers - 1].fan_out, i
    cdef int thread = thread_number()
    cdef floating* acts = acts_all + thread * work.chunk_rows * work.width
    cdef floating* out = <floating*> work.out
    cdef floating* rows
    cdef LayerBuffers buffers = no_buffers()
    cdef RowBlock block = work.block
    cdef const floating* result
    cdef Py_ssize_t n_features = work.n_features, fan_in = work.layers[0].fan_in, r
    block.row_start = start
    block.n_rows = n_rows
    if not block.sparse and work.converted == NULL:
        block.dense = <const floating*> work.X + start * n_features
    elif not block.sparse and work.embedded.n_embeddings == 0:
        rows = <floating*> work.converted + thread * work.chunk_rows * fan_in
        if work.x_double:
            copy_row(rows, <const double*> work.X + start * n_features, n_rows * n_features)
        else:
            copy_row(rows, <const float*> work.X + start * n_features, n_rows * n_features)
        block.dense = rows
    elif not block.sparse:
        rows = <floating*> work.converted + thread * work.chunk_rows * fan_in
        for r in range(n_rows):
            if work.x_double:
                copy_row(rows + r * fan_in, <const double*> work.X + (start + r) * n_features,
                         n_features)
            else:
                copy_row(rows + r * fan_in, <const float*> work.X + (start + r) * n_features,
                         n_features)
            gather_embeddings(rows + r * fan_in, <const floating*> work.params,
                              &work.embedded, start + r)
        block.dense = rows
    buffers.acts = acts
    predict_forward(work.layers, work.n_layers, <const floating*> work.params, block,
                    &buffers, work.piece_work, work.vector_work)
    result = layer_output(work.layers, work.n_layers - 1, acts, n_rows, 0)
    for i in range(n_rows * n_out):
        out[start * n_out + i] = result[i]


cdef void predict_chunk_double(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    predict_chunk(<PredictWork*> work, index, <double*> (<PredictWork*> work).acts)


cdef void predict_chunk_float(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    predict_chunk(<PredictWork*> work, index, <float*> (<PredictWork*> work).acts)


cdef check_input_width(bint sparse, const input_floating[:, ::1] X,
                       const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_embeddings=0):
    """X must have one column per input of the first layer, or, with embeddings, be
    dense (the embeddings then fill the first layer's remaining inputs)."""
    if n_embeddings and sparse:
        raise ValueError("a network with embeddings reads dense X")
    if not sparse and not n_embeddings and X.shape[1] != layer_table[0, FAN_IN]:
        raise ValueError("X must have one column per input of the first layer")


def loss_gradient(const Py_ssize_t[:, ::1] layer_table, LossFunction loss, double alpha,
                  const floating[::1] params, bint sparse, const floating[:, ::1] X,
                  const floating[::1] X_data, const int[::1] X_indices,
                  const int[::1] X_indptr, const floating[:, ::1] Y,
                  const floating[::1] sample_weight, floating[::1] grads,
                  Py_ssize_t n_coefs, Py_ssize_t chunk_rows=1024):
    """Full-batch loss and gradient, as scikit-learn's MLP defines and computes them.

    loss = sum_i w_i loss_i / sum(w) + alpha / 2 * ||coefs||^2 / sum(w), and `grads`
    receives its gradient. `loss` is a LossFunction (see _losses.loss_function). The
    rows are processed in chunks so memory stays bounded. `n_coefs` is where the
    coefficients end and the intercepts begin in `params`. An empty `sample_weight`
    means unit weights.

    Every step follows the operations of MLP's ``_loss_grad_lbfgs`` (NumPy's products,
    exp, tanh and summation orders), so that on dense float64 input of up to
    `chunk_rows` rows, with BLAS on one thread, loss and gradient equal MLP's to the
    last bit; the one deliberate difference is the gradient of squared error with
    several outputs (see the README).
    """
    cdef Py_ssize_t n_rows = n_input_rows(sparse, X, X_indptr)
    cdef Py_ssize_t n_layers = layer_table.shape[0], n_params = params.shape[0]
    cdef Py_ssize_t n_out = layer_table[n_layers - 1, FAN_OUT]
    if Y.shape[0] != n_rows or Y.shape[1] != n_out:
        raise ValueError(f"Y must have shape ({n_rows}, {n_out})")
    if grads.shape[0] != n_params:
        raise ValueError("grads must have the same length as params")
    check_input_width(sparse, X, layer_table)
    check_loss(&loss)
    if sample_weight.shape[0] not in (0, n_rows):
        raise ValueError("sample_weight must be empty or have one weight per row")
    if n_rows == 0:
        raise ValueError("no rows to compute a loss on")
    chunk_rows = max(1, min(chunk_rows, n_rows))
    cdef CBuffer table = layers_from_table(layer_table, params.shape[0])
    cdef const Layer* layers = <const Layer*> table.data
    cdef Py_ssize_t width = total_width(layers, n_layers)
    dtype = np.asarray(params).dtype
    cdef floating[::1] acts = np.empty(chunk_rows * width, dtype=dtype)
    cdef floating[::1] deltas = np.empty(chunk_rows * width, dtype=dtype)
    cdef floating[::1] pre = np.empty(
        chunk_rows * width if any_needs_preactivation(layers, n_layers) else 1, dtype=dtype)
    cdef double[::1] column_sums = np.zeros(n_out)
    cdef double[::1] terms = np.empty(chunk_rows)
    cdef LayerBuffers buffers = no_buffers()
    cdef const floating* sw = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef double weight_sum, sq_norm = 0.0, value
    cdef Py_ssize_t start, stop, i, layer_index
    cdef RowBlock block
    cdef bint interrupted = False
    with nogil:
        buffers.acts = &acts[0]
        buffers.deltas = &deltas[0]
        buffers.numpy_order = True
        if any_needs_preactivation(layers, n_layers):
            buffers.pre = &pre[0]
        start = 0
        while start < n_rows and not interrupted:
            stop = min(start + chunk_rows, n_rows)
            block = make_block(sparse, X, X_data, X_indices, X_indptr, start, stop - start)
            forward_backward(layers, n_layers, &loss, &params[0], block, &Y[start, 0],
                             sw + start if sw != NULL else NULL, &buffers, &grads[0],
                             start > 0)
            add_loss_terms(&loss, layer_output(layers, n_layers - 1, &acts[0], stop - start, 0),
                           &Y[start, 0], sw + start if sw != NULL else NULL, stop - start,
                           n_out, &column_sums[0], &terms[0])
            start = stop
            interrupted = signal_pending()
        weight_sum = numpy_sum(sw, n_rows, 1) if sw != NULL else <double> n_rows
        for layer_index in range(n_layers):
            # np.dot(s, s) per layer, as MLP adds the L2 term.
            sq_norm = sq_norm + dot(<int> (layers[layer_index].fan_in
                                           * layers[layer_index].fan_out),
                                    &params[layers[layer_index].coef_offset],
                                    &params[layers[layer_index].coef_offset])
        value = loss_from_sums(&loss, &column_sums[0], n_out, weight_sum)
        value = value + ((0.5 * alpha) * sq_norm) / weight_sum
        for i in range(n_coefs):
            grads[i] = (grads[i] + alpha * params[i]) / weight_sum
        for i in range(n_coefs, n_params):
            grads[i] = grads[i] / weight_sum
    if interrupted:
        raise KeyboardInterrupt
    return value


cdef check_loss(const LossFunction* loss):
    if not 0 <= loss.code < N_LOSSES:
        raise ValueError(f"unknown loss code {loss.code}")


# Test shims: each per-batch kernel above, callable from Python so that tests can compare
# it with a small NumPy reference.

def activate_py(int activation, const floating[::1] intercept, floating[:, ::1] z):
    """z = f(z + intercept) in place, for activation code `activation` (for tests)."""
    if intercept.shape[0] != z.shape[1]:
        raise ValueError("intercept must have one entry per column of z")
    if z.shape[0] > 0 and z.shape[1] > 0:
        add_bias_and_activate(&intercept[0], activation, &z[0, 0], NULL, z.shape[0],
                              z.shape[1], z.shape[1], False)


def activation_derivative_py(int activation, const floating[:, ::1] a, floating[:, ::1] delta,
                             const floating[:, ::1] z=None):
    """delta *= f'(z) in place, from the outputs a = f(z), and z itself for the
    activations that need it (for tests)."""
    if a.shape[0] != delta.shape[0] or a.shape[1] != delta.shape[1]:
        raise ValueError("a and delta must have the same shape")
    if needs_preactivation(activation) and (
            z is None or z.shape[0] != a.shape[0] or z.shape[1] != a.shape[1]):
        raise ValueError("this activation's derivative needs z, of the shape of a")
    if a.shape[0] * a.shape[1] > 0:
        activation_derivative(activation, &a[0, 0], &z[0, 0] if z is not None else NULL,
                              &delta[0, 0], a.shape[0], a.shape[1], a.shape[1])


def loss_and_delta_py(LossFunction loss, const floating[:, ::1] prob, const floating[:, ::1] y,
                      const floating[::1] sample_weight, floating[:, ::1] delta):
    """Weighted loss sum over rows, and delta written in place (for tests).

    An empty `sample_weight` means unit weights.
    """
    if prob.shape[0] != y.shape[0] or prob.shape[1] != y.shape[1]:
        raise ValueError("prob and y must have the same shape")
    if delta.shape[0] != y.shape[0] or delta.shape[1] != y.shape[1]:
        raise ValueError("delta must have the shape of y")
    if sample_weight.shape[0] not in (0, y.shape[0]):
        raise ValueError("sample_weight must be empty or have one weight per row")
    check_loss(&loss)
    if y.shape[0] * y.shape[1] == 0:
        return 0.0
    return loss_and_delta(&loss, &prob[0, 0], &y[0, 0],
                          &sample_weight[0] if sample_weight.shape[0] > 0 else NULL,
                          y.shape[0], y.shape[1], &delta[0, 0])


def backprop_delta_py(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t index,
                      const floating[::1] params, const floating[:, ::1] delta,
                      const floating[:, ::1] previous_output, floating[:, ::1] previous_delta):
    """previous_delta = (delta @ W^T) * f'(previous_output) for layer `index` (for tests)."""
    cdef CBuffer table = layers_from_table(layer_table, params.shape[0])
    cdef const Layer* layers = <const Layer*> table.data
    if not 0 < index < layer_table.shape[0]:
        raise ValueError("index must name a layer after the first")
    if (delta.shape[1] != layers[index].fan_out
            or previous_output.shape[1] != layers[index].fan_in
            or previous_delta.shape[1] != layers[index].fan_in
            or previous_output.shape[0] != delta.shape[0]
            or previous_delta.shape[0] != delta.shape[0]):
        raise ValueError("array shapes do not match the layer")
    if delta.shape[0] > 0:
        backprop_delta(&layers[index], &params[0], &delta[0, 0], delta.shape[0],
                       &layers[index - 1], &previous_output[0, 0], NULL, NULL, NULL, 1,
                       &previous_delta[0, 0], 0, layers[index].fan_in, False)


def short_vector_widths():
    """The vector widths, in bytes, that the short products can run on this CPU, widest
    (the one training uses) first: (64, 32, 16) with AVX-512, (32, 16) with AVX2, (16,)
    otherwise (short_products.h)."""
    return tuple(w for w in (64, 32, 16) if w <= short_vector_bytes())


cdef int _checked_width(vector_bytes) except -1:
    """vector_bytes for the short products' *_width functions: None for training's."""
    if vector_bytes is None:
        return short_vector_bytes()
    if vector_bytes not in short_vector_widths():
        raise ValueError(f"vector_bytes must be one of {short_vector_widths()}")
    return vector_bytes


def short_backprop_py(const floating[:, ::1] delta, const floating[:, ::1] weights,
                      floating[:, ::1] out, Py_ssize_t col_start, Py_ssize_t col_stop,
                      const floating[:, ::1] relu=None, vector_bytes=None):
    """out[:, col_start:col_stop] = delta @ weights[col_start:col_stop].T by the short
    backward product; weights holds a row of k values per column of out. With `relu`
    (shaped as out), entries where it is 0 are 0. vector_bytes: a width of
    short_vector_widths(), or None for training's (for tests)."""
    cdef Py_ssize_t k = delta.shape[1]
    cdef int width = _checked_width(vector_bytes)
    if relu is not None and (relu.shape[0] != out.shape[0] or relu.shape[1] != out.shape[1]):
        raise ValueError("relu must have out's shape")
    if not 0 < k < SHORT_SIDE:
        raise ValueError(f"delta must have 1 to {SHORT_SIDE - 1} columns")
    if (weights.shape[1] != k or out.shape[0] != delta.shape[0]
            or out.shape[1] != weights.shape[0]
            or not 0 <= col_start <= col_stop <= out.shape[1]):
        raise ValueError("array shapes or the column range do not match")
    if delta.shape[0] == 0 or col_stop == col_start:
        return
    if floating is float:
        short_backprop_float_width(width, &delta[0, 0], delta.shape[0], k,
                                   &weights[col_start, 0], col_stop - col_start,
                                   &out[0, col_start], out.shape[1],
                                   &relu[0, col_start] if relu is not None else NULL)
    else:
        short_backprop_double_width(width, &delta[0, 0], delta.shape[0], k,
                                    &weights[col_start, 0], col_stop - col_start,
                                    &out[0, col_start], out.shape[1],
                                    &relu[0, col_start] if relu is not None else NULL)


def short_gradient_py(const floating[:, ::1] inputs, Py_ssize_t in_start, Py_ssize_t in_stop,
                      const floating[:, ::1] delta, floating[:, ::1] grads, bint zero,
                      floating[::1] bias=None, vector_bytes=None):
    """grads[in_start:in_stop] (+)= inputs[:, in_start:in_stop].T @ delta by the short
    gradient, set to 0 first when `zero`; with `bias` (n_outputs values), delta's
    column sums are added to it too (set to 0 first when `zero`). With no rows, nothing
    is written. vector_bytes as for short_backprop_py (for tests)."""
    cdef int width = _checked_width(vector_bytes)
    if (inputs.shape[0] != delta.shape[0] or grads.shape[0] != inputs.shape[1]
            or grads.shape[1] != delta.shape[1]
            or not 0 <= in_start < in_stop <= inputs.shape[1]
            or (bias is not None and bias.shape[0] != delta.shape[1])):
        raise ValueError("array shapes or the input range do not match")
    if not (inputs.shape[1] < SHORT_SIDE or delta.shape[1] < SHORT_SIDE):
        raise ValueError(f"inputs or delta must have fewer than {SHORT_SIDE} columns")
    if inputs.shape[0] == 0:
        return
    if floating is float:
        short_gradient_float_width(width, &inputs[0, in_start], inputs.shape[1],
                                   inputs.shape[0], in_stop - in_start, &delta[0, 0],
                                   delta.shape[1], &grads[in_start, 0], zero,
                                   &bias[0] if bias is not None else NULL)
    else:
        short_gradient_double_width(width, &inputs[0, in_start], inputs.shape[1],
                                    inputs.shape[0], in_stop - in_start, &delta[0, 0],
                                    delta.shape[1], &grads[in_start, 0], zero,
                                    &bias[0] if bias is not None else NULL)


def add_column_sums_py(const floating[:, ::1] rows, floating[::1] sums):
    """sums += the column sums of rows, added row after row, as the kernels take the
    bias gradients (for tests)."""
    if sums.shape[0] != rows.shape[1]:
        raise ValueError("sums must have one value per column of rows")
    if rows.shape[0] > 0 and rows.shape[1] > 0:
        add_column_sums(&rows[0, 0], &sums[0], rows.shape[0], rows.shape[1], rows.shape[1])


def dropout_mask_py(unsigned long long seed, long long epoch, const Py_ssize_t[::1] rows,
                    Py_ssize_t unit_start, Py_ssize_t n_units, double rate):
    """Dropout's mask for the given rows and units unit_start...unit_start+n_units-1, as
    train_epochs draws it (1 / (1 - rate) or 0; for tests and NumPy references)."""
    cdef double[:, ::1] mask = np.empty((rows.shape[0], n_units))
    cdef uint32_t threshold = <uint32_t> (rate * 65536.0)
    cdef Py_ssize_t r, j
    cdef uint64_t key
    if not 0 <= rate < 1:
        raise ValueError("rate must be in [0, 1)")
    for r in range(rows.shape[0]):
        key = row_key(seed, epoch, rows[r])
        for j in range(n_units):
            mask[r, j] = 1.0 / (1.0 - rate) if unit_draw(key, unit_start + j) >= threshold else 0.0
    return np.asarray(mask)
