# Declarations of the per-layer kernels shared by the epoch loop and the full-batch paths.
from cython cimport floating


# The float type of an input X that may differ from the network's (`floating`): a network
# trained in float32 reads a float64 X, converting rows as it goes.
ctypedef fused input_floating:
    float
    double

from libc.string cimport memcpy

from ._activations cimport Activation, needs_preactivation
from ._losses cimport LossFunction


# One dense layer. Its weights live in the network's flat parameter vector: the
# (fan_in, fan_out) row-major coefficient block at coef_offset and the fan_out intercepts
# at intercept_offset. A layer carries its own activation (an _activations.Activation).
ctypedef struct Layer:
    Py_ssize_t fan_in
    Py_ssize_t fan_out
    Py_ssize_t coef_offset
    Py_ssize_t intercept_offset
    int activation


# The columns of the (n_layers, N_LAYER_COLUMNS) layer table that Python builds
# (bpnet/_layout.py), one row per layer, and which layers_from_table reads into Layers.
cdef enum:
    FAN_IN = 0
    FAN_OUT = 1
    COEF_OFFSET = 2
    INTERCEPT_OFFSET = 3
    ACTIVATION = 4
    N_LAYER_COLUMNS = 5


# A categorical column's embedding table: n_levels rows of dim values at `offset` in the
# network's flat parameter vector. A row of X brings one code per table, the row of the
# table that fills the first layer's input columns column...column+dim-1, after X's own
# (dense) columns.
ctypedef struct Embedding:
    Py_ssize_t n_levels
    Py_ssize_t dim
    Py_ssize_t offset
    Py_ssize_t column


# The columns of the (n_embeddings, N_EMBEDDING_COLUMNS) embedding table that Python
# builds (bpnet/_layout.py), one row per embedding, read by embeddings_from_table.
cdef enum:
    EMBEDDING_LEVELS = 0
    EMBEDDING_DIM = 1
    EMBEDDING_OFFSET = 2
    EMBEDDING_COLUMN = 3
    N_EMBEDDING_COLUMNS = 4


# The network's embeddings and the codes of the rows of X that pick their rows (codes is
# row-major, n_embeddings codes per row of X); n_embeddings 0 for a network without.
ctypedef struct EmbeddingInput:
    const Embedding* embeddings
    Py_ssize_t n_embeddings
    const int* codes


# The rows fed to a layer: `n_rows` dense C-contiguous rows at `dense` when not `sparse`,
# else CSR rows given by `rows` (or, when `rows` is NULL, rows row_start...
# row_start+n_rows-1). The value pointers are untyped because a struct cannot be fused;
# every reader casts them to the `floating` type of the function it is in.
ctypedef struct RowBlock:
    bint sparse
    const void* dense
    const void* csr_data
    const int* csr_indices
    const int* csr_indptr
    const Py_ssize_t* rows
    Py_ssize_t row_start
    Py_ssize_t n_rows


# The batch-wide buffers of a forward and backward pass, each in the layer_output layout,
# and what dropout needs to draw its masks. Untyped because a struct cannot be fused.
ctypedef struct LayerBuffers:
    void* acts                  # every layer's outputs f(z), before dropout
    void* deltas                # every layer's delta
    void* pre                   # z, for the layers whose derivative needs it; or NULL
    void* dropped               # outputs after dropout (the next layer's inputs); or NULL
    void* mask                  # dropout's factors, 0 or 1 / (1 - rate); or NULL
    const double* dropout       # each layer's dropout rate, or NULL for none
    unsigned long long seed     # dropout's draws are keyed by (seed, epoch, row, unit),
    long long epoch             # the row being row_ids[r] for the batch's row r
    const Py_ssize_t* row_ids
    bint numpy_order            # compute as scikit-learn's MLP does with NumPy, to the bit


# C memory owned by a Python object: freed when the object goes, on every exit path.
cdef class CBuffer:
    cdef void* data


cdef CBuffer layers_from_table(const Py_ssize_t[:, ::1] table, Py_ssize_t n_params)

cdef LayerBuffers no_buffers() noexcept nogil

cdef CBuffer embeddings_from_table(const Py_ssize_t[:, ::1] table,
                                   const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_params,
                                   Py_ssize_t n_dense)

cdef EmbeddingInput embedding_input(CBuffer embeddings, Py_ssize_t n_embeddings,
                                    const int[:, ::1] codes, Py_ssize_t n_rows)

cdef bint any_needs_preactivation(const Layer* layers, Py_ssize_t n_layers) noexcept nogil


# Where things are in the batch-wide buffers, and what a layer reads.

cdef inline Py_ssize_t total_width(const Layer* layers, Py_ssize_t n_layers) noexcept nogil:
    """Sum of the layers' widths: the activations of one row."""
    cdef Py_ssize_t i, width = 0
    for i in range(n_layers):
        width += layers[i].fan_out
    return width


cdef inline floating* layer_output(const Layer* layers, Py_ssize_t index, floating* acts,
                                   Py_ssize_t n_rows, Py_ssize_t row) noexcept nogil:
    """Where layer `index` keeps row `row` of its (n_rows, fan_out) block inside a
    batch-wide buffer.

    The forward pass keeps activations, and the backward pass deltas, in this layout:
    layer by layer, each layer's rows contiguous. Every buffer of LayerBuffers uses it.
    """
    return acts + n_rows * total_width(layers, index) + row * layers[index].fan_out


cdef inline floating* preactivation_rows(const Layer* layers, Py_ssize_t index, floating* pre,
                                         Py_ssize_t n_rows, Py_ssize_t row) noexcept nogil:
    """Where layer `index` keeps its z in the buffer `pre`, or NULL if its derivative does
    not need z."""
    if pre == NULL or not needs_preactivation(layers[index].activation):
        return NULL
    return layer_output(layers, index, pre, n_rows, row)


cdef inline bint has_dropout(const LayerBuffers* buffers, Py_ssize_t index) noexcept nogil:
    return buffers.dropout != NULL and buffers.dropout[index] > 0


cdef inline floating dropout_scale(const LayerBuffers* buffers, Py_ssize_t index,
                                   floating kind) noexcept nogil:
    """What inverted dropout multiplies the kept outputs of layer `index` by (`kind`
    only picks the float type)."""
    return <floating> (1.0 / (1.0 - buffers.dropout[index]))


cdef inline bint keeps_mask(const Layer* layers, Py_ssize_t index) noexcept nogil:
    """Whether dropout on layer `index` stores its mask: relu layers do without."""
    return layers[index].activation != Activation.RELU


cdef inline floating* next_layer_inputs(const Layer* layers, Py_ssize_t index,
                                        const LayerBuffers* buffers, floating* acts,
                                        Py_ssize_t n_rows, Py_ssize_t row) noexcept nogil:
    """What layer `index + 1` reads from layer `index`: its outputs `acts`, after dropout."""
    if has_dropout(buffers, index):
        acts = <floating*> buffers.dropped
    return layer_output(layers, index, acts, n_rows, row)


cdef inline Py_ssize_t block_row(RowBlock block, Py_ssize_t r) noexcept nogil:
    """The input row of the block's row r."""
    return block.rows[r] if block.rows != NULL else block.row_start + r


# Layer kernels on blocks of rows and columns of a batch (see _kernels.pyx).

cdef void forward_block(const Layer* layers, Py_ssize_t index, const floating* params,
                        RowBlock block, const LayerBuffers* buffers, Py_ssize_t batch_rows,
                        Py_ssize_t row_offset, Py_ssize_t col_start,
                        Py_ssize_t col_stop) noexcept nogil

cdef void backward_block(const Layer* layers, Py_ssize_t index, const floating* params,
                         const LayerBuffers* buffers, Py_ssize_t batch_rows,
                         Py_ssize_t row_offset, Py_ssize_t n_rows, Py_ssize_t col_start,
                         Py_ssize_t col_stop) noexcept nogil

cdef void forward_network(const Layer* layers, Py_ssize_t n_layers, const floating* params,
                          RowBlock block, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                          const LayerBuffers* buffers) noexcept nogil

cdef double forward_and_deltas(const Layer* layers, Py_ssize_t n_layers,
                               const LossFunction* loss, const floating* params,
                               RowBlock block, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                               const floating* y, const floating* sample_weight,
                               const LayerBuffers* buffers) noexcept nogil

cdef void layer_gradient(const Layer* layer, RowBlock inputs, const floating* delta,
                         floating* grads, Py_ssize_t in_start, Py_ssize_t in_stop,
                         bint with_intercepts, bint accumulate, bint numpy_order) noexcept nogil

cdef RowBlock layer_inputs(const Layer* layers, Py_ssize_t index, RowBlock block,
                           const LayerBuffers* buffers, floating* acts) noexcept nogil

cdef RowBlock make_block(bint sparse, const floating[:, ::1] X, const floating[::1] X_data,
                         const int[::1] X_indices, const int[::1] X_indptr,
                         Py_ssize_t row_start, Py_ssize_t n_rows) noexcept nogil

cdef RowBlock csr_block(bint sparse, const floating[::1] X_data, const int[::1] X_indices,
                        const int[::1] X_indptr) noexcept nogil

cdef bint signal_pending() noexcept nogil

cdef Py_ssize_t n_input_rows(bint sparse, const input_floating[:, ::1] X,
                             const int[::1] X_indptr) noexcept nogil


cdef inline void gather_embeddings(floating* x_row, const floating* params,
                                   const EmbeddingInput* embedded,
                                   Py_ssize_t row) noexcept nogil:
    """Fill a first-layer input row's embedding columns with the rows its codes pick
    (row `row` of X's codes)."""
    cdef Py_ssize_t t, d
    cdef const Embedding* table
    cdef const floating* values
    for t in range(embedded.n_embeddings):
        table = &embedded.embeddings[t]
        values = params + table.offset + embedded.codes[row * embedded.n_embeddings + t] * table.dim
        for d in range(table.dim):
            x_row[table.column + d] = values[d]


cdef inline Py_ssize_t embedded_width(const EmbeddingInput* embedded) noexcept nogil:
    """The first layer's input columns that the embeddings fill."""
    cdef Py_ssize_t t, width = 0
    for t in range(embedded.n_embeddings):
        width += embedded.embeddings[t].dim
    return width


cdef inline void copy_row(floating* dst, const input_floating* src, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[:n], converted to dst's type. Short rows of one type (a few features,
    the outputs) by a plain loop: a memcpy call per row cost more than the copying on
    data as small as iris."""
    cdef Py_ssize_t j
    if sizeof(floating) == sizeof(input_floating) and n > 32:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for j in range(n):
            dst[j] = <floating> src[j]
