# One epoch of minibatch training (gather, forward, loss, backward, update) in one nogil call.
#
# A batch runs as a sequence of phases, each cut into blocks that write their own slots:
#   GATHER     blocks of rows: the batch's rows of X, Y and the sample weights;
#   FORWARD    one per hidden layer: tiles (rows by output columns) of its outputs;
#   OUTPUT     blocks of rows: the output layer, the loss and its delta, and the last
#              hidden layer's delta, for those rows;
#   BACKWARD   one per hidden layer but the last: tiles of its delta, from the next one's;
#   EMBEDDING  with embeddings, one block per embedding: its input columns' gradient from
#              the first layer's delta, added row by row in batch order into the
#              gradient of the rows the batch's codes picked;
#   PARAM      blocks of coefficient rows (a layer's intercepts go with its first block):
#              the gradient from the whole batch, then the optimizer step (and one block
#              per embedding, whose gradient the EMBEDDING phase made). With gradient
#              clipping, GRADIENT (the gradients and their squared norms), then the norm
#              is reduced in block order, then UPDATE.
# plan_batch cuts each phase from the shapes alone; run_phase (_parallel.pyx) shares the
# blocks of a phase among threads. Since every block writes its own slots and the sums
# over blocks are taken in block order, every number an epoch produces is the same with
# one thread or many, loaded or idle, provided BLAS itself runs single-threaded inside a
# block (the estimators make sure of that).
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt
from libc.stdint cimport UINT32_MAX, uint32_t, uint64_t
from libc.string cimport memcpy, memset

import numpy as np

from ._blas cimport dot, gemm
from ._elementwise cimport adam_update, sgd_update
from ._kernels cimport (EMBEDDING_DIM, FAN_IN, FAN_OUT, CBuffer, Embedding, EmbeddingInput, Layer,
                        LayerBuffers, RowBlock, copy_row, csr_block, embedded_width,
                        embedding_input, embeddings_from_table, gather_embeddings,
                        input_floating,
                        any_needs_preactivation, backward_block, forward_block, layer_gradient,
                        layer_inputs, layer_output, layers_from_table,
                        n_input_rows, no_buffers, signal_pending, total_width)
from ._losses cimport LossFunction, N_LOSSES, loss_and_delta
from ._rules cimport EpochStatus, LoopState, end_epoch, start_epoch
from ._parallel cimport (BlockFunction, ThreadGovernor, governor_active, governor_batch_done,
                         governor_batch_start, governor_keep, governor_resume,
                         governor_start, run_governed_phase)


cdef extern from "portable.h" nogil:
    double seconds "bpnet_seconds" () noexcept


cpdef enum Solver:
    SGD = 0
    ADAM = 1


cpdef enum PhaseKind:
    GATHER_PHASE = 0
    FORWARD_PHASE = 1
    OUTPUT_PHASE = 2
    BACKWARD_PHASE = 3
    PARAM_PHASE = 4
    GRADIENT_PHASE = 5
    UPDATE_PHASE = 6
    EMBEDDING_PHASE = 7


# How a batch is cut, by shape alone (plan_batch). A batch whose forward pass carries at
# least cut_batch_work multiply-adds (rows times weights) offers at least min_blocks
# blocks in every phase, and more where a block would carry more than max_block_work
# multiply-adds, so that large work offers many blocks. A batch of half that work up to
# it is cut lightly: every phase into as many blocks as the batch's forward work holds
# whole quarters of cut_batch_work (2^19 multiply-adds by default), which is two or
# three, so that a block's fixed cost (about a microsecond: the BLAS call and the
# operands it reads again) stays a few percent of its work. A smaller batch runs every
# phase as one block: the same BLAS calls as an uncut network, with nothing to share.
# (A product of 2^19 multiply-adds is also within the size that OpenBLAS's small-matrix
# kernels take, where it has them, packing nothing.) Where the caller knows the BLAS
# computes products up to some size in place, without packing (`direct_work`, from
# _threading.direct_product_work: OpenBLAS's AVX-512 float32 kernels, up to 10^6
# multiply-adds), a fully cut batch's forward and backward tiles and gradient blocks
# that would pass that size are cut to it (where a tile of 8 rows by 16 columns, or a
# run of one row, is that small): packing costs as much as the multiply-adds of such a
# tile. The output phase, cut by rows, is left as it is. That bound depends on the BLAS
# library and the dtype, never on the threads, so the results still do not depend on
# their number. Tiles are at least MIN_TILE_ROWS rows and a multiple of TILE_COLUMNS
# columns (or the whole width), and as square as the count allows: a BLAS call packs
# both of its operands, and a square tile carries the most work per value packed.
# benchmarks/README.md has the measurements behind these sizes. (Module variables rather
# than constants only so that tests can cut small networks: set_cut.)
cdef enum:
    MIN_TILE_ROWS = 4
    TILE_COLUMNS = 8
    DIRECT_ROWS = 8
    DIRECT_COLUMNS = 16

cdef double cut_batch_work = 1 << 21
cdef Py_ssize_t min_blocks = 16
cdef double max_block_work = 1 << 21


SOLVER_CODES = {"sgd": Solver.SGD, "adam": Solver.ADAM}


# Everything about a fit's epochs that is not an array and does not change from one epoch
# to the next. Python passes a dict with these keys (bpnet/_optimizers.py gives the
# optimizer's, bpnet/_training.py the rest). New training options (gradient clipping,
# dropout rates, ...) become new fields here.
cdef struct EpochOptions:
    int solver
    LossFunction loss
    double alpha
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon
    Py_ssize_t batch_size
    int n_threads           # threads sharing each phase's blocks; never changes a result
    double max_grad_norm    # clip each batch's gradient to this L2 norm; 0: never
    double weight_decay     # decoupled decay of the coefficients, times the rate, per step
    unsigned long long dropout_seed   # dropout's draws are keyed by (dropout_seed, epoch,
                                      # row, unit), the epoch being LoopState.epochs_trained


cdef struct EpochResult:
    double loss_sum         # sum over batches of (batch loss * batch rows)
    long long adam_steps
    int status
    Py_ssize_t n_batches    # batches whose update was applied


# Offsets of the buffers carved out of the one workspace array, in elements.
cdef struct WorkspaceLayout:
    Py_ssize_t x_batch
    Py_ssize_t y_batch
    Py_ssize_t sw_batch
    Py_ssize_t acts
    Py_ssize_t deltas
    Py_ssize_t pre
    Py_ssize_t dropped
    Py_ssize_t mask
    Py_ssize_t embedding_grad
    Py_ssize_t size


# One phase of a batch: which layer, and how it is cut. A block covers block_rows rows
# (the last fewer) and, in tiled phases, block_cols columns; block b is tile
# (b // n_col_blocks, b % n_col_blocks).
cdef struct Phase:
    int kind
    Py_ssize_t layer
    Py_ssize_t block_rows
    Py_ssize_t block_cols
    Py_ssize_t n_col_blocks
    Py_ssize_t n_blocks


# A block of parameters for the PARAM phases: coefficient rows in_start...in_stop-1 of
# one layer, with that layer's intercepts when `intercepts` is set; or, when `embedding`
# is not -1, that embedding's whole table.
cdef struct ParamBlock:
    Py_ssize_t layer
    Py_ssize_t in_start
    Py_ssize_t in_stop
    bint intercepts
    Py_ssize_t embedding


# The cut of a batch of n_rows rows: its phases in order, the param phase's blocks, and
# where the phases before the loss end.
cdef struct BatchPlan:
    Py_ssize_t n_rows
    Phase* phases
    Py_ssize_t n_phases
    Py_ssize_t n_loss_phases      # phases up to and including OUTPUT
    ParamBlock* param_blocks
    Py_ssize_t n_param_blocks
    Py_ssize_t most_blocks        # of any phase


# What the blocks of the current batch read and write. The calling thread fills it in
# between phases. A struct cannot be fused, so the value pointers are untyped here; each
# phase's block function is compiled for one float type and casts them once.
cdef struct BatchWork:
    const Layer* layers
    Py_ssize_t n_layers
    const EpochOptions* options
    const BatchPlan* plan
    RowBlock input              # the batch's input rows (dense rows gathered into x_batch)
    LayerBuffers buffers        # activations, deltas and dropout's buffers of the batch
    const void* X               # dense X, in its own type; unused for CSR input
    bint x_double               # whether X is float64 (rows are converted as gathered)
    Py_ssize_t n_x_features     # X's columns: the first layer's inputs before embeddings
    EmbeddingInput embedded     # the embeddings and X's codes
    void* embedding_grad        # per embedding: its (n_batch, dim) input gradient
    const void* Y
    const void* sample_weight   # NULL for unit weights
    const Py_ssize_t* order     # the batch's rows of X
    Py_ssize_t n_batch
    void* params
    void* grads
    void* moment_1
    void* moment_2
    void* x_batch
    void* y_batch
    void* sw_batch
    double* row_loss            # per OUTPUT block: weighted loss of its rows
    double* coef_sq_norm        # per parameter block: squared norms after the update
    double* intercept_sq_norm
    double* grad_sq_norm        # per parameter block: its gradient's squared norm
    double inverse_weight_sum
    double learning_rate        # the epoch's rate
    double step_size            # Adam's bias-corrected step
    double* block_seconds       # NULL, or per phase and block: time spent, summed
    Py_ssize_t block_seconds_stride


# Work, in floating-point operations, between two checks for a pending signal: a few
# milliseconds of training, so Ctrl-C is noticed quickly without taking the GIL often.
cdef enum:
    SIGNAL_CHECK_FLOPS = 20000000


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef WorkspaceLayout plan_workspace(const Layer* layers, Py_ssize_t n_layers,
                                    Py_ssize_t batch_size, bint sparse, bint dropout,
                                    Py_ssize_t embedded_columns) noexcept nogil:
    cdef WorkspaceLayout plan
    cdef Py_ssize_t n_outputs = layers[n_layers - 1].fan_out
    cdef Py_ssize_t layer_rows = batch_size * total_width(layers, n_layers)
    plan.x_batch = 0
    plan.y_batch = 0 if sparse else batch_size * layers[0].fan_in
    plan.sw_batch = plan.y_batch + batch_size * n_outputs
    plan.acts = plan.sw_batch + batch_size
    plan.deltas = plan.acts + layer_rows
    plan.pre = plan.deltas + layer_rows
    plan.dropped = plan.pre + (layer_rows if any_needs_preactivation(layers, n_layers) else 0)
    plan.mask = plan.dropped + (layer_rows if dropout else 0)
    plan.embedding_grad = plan.mask + (layer_rows if dropout else 0)
    plan.size = plan.embedding_grad + batch_size * embedded_columns
    return plan


# --- the cut -------------------------------------------------------------------------

# How a batch is cut: fully (blocks by each phase's work), or else every phase into
# `blocks` blocks (one: uncut).
cdef struct Cut:
    bint full
    Py_ssize_t blocks
    double direct_work      # in a full cut: the most work a product's block carries, or 0


cdef Cut batch_cut(double batch_work, double direct_work) noexcept nogil:
    """How a batch whose forward pass carries `batch_work` multiply-adds is cut, for a
    BLAS that computes products of up to `direct_work` multiply-adds without packing
    (0: none known)."""
    cdef Cut cut
    cut.full = batch_work >= cut_batch_work
    cut.direct_work = direct_work if cut.full else 0.0
    cut.blocks = 1
    if not cut.full and batch_work >= cut_batch_work / 2:
        cut.blocks = <Py_ssize_t> (batch_work / (cut_batch_work / 4))
    return cut


cdef Py_ssize_t blocks_wanted(Cut cut, double work) noexcept nogil:
    """How many blocks a phase of `work` multiply-adds offers in a batch cut so."""
    if cut.full:
        return max(min_blocks, <Py_ssize_t> (work / max_block_work) + 1)
    return cut.blocks


cdef void plan_rows(Phase* phase, Py_ssize_t n_rows, Py_ssize_t n_cols, Cut cut,
                    double work) noexcept nogil:
    """Cut the rows of a phase of `work` multiply-adds into blocks_wanted blocks of at
    least MIN_TILE_ROWS rows, each with all n_cols columns: in a full cut at least that
    many where the rows allow (the last maybe shorter), in a light one at most that many,
    as even as can be."""
    cdef Py_ssize_t wanted = max(blocks_wanted(cut, work), 1)
    phase.block_rows = max(<Py_ssize_t> MIN_TILE_ROWS,
                           n_rows // wanted if cut.full else ceil_div(n_rows, wanted))
    phase.block_cols = n_cols
    phase.n_col_blocks = 1
    phase.n_blocks = ceil_div(n_rows, phase.block_rows)


cdef void plan_tiles(Phase* phase, Py_ssize_t n_rows, Py_ssize_t n_cols, Py_ssize_t inner,
                     Cut cut) noexcept nogil:
    """Cut a product's (n_rows, n_cols) output, inner dimension `inner`, into tiles.

    One tile where blocks_wanted is one; otherwise the grid with at least blocks_wanted
    tiles (or as many as the minimum tile sizes allow) whose tiles are the most square,
    1 / rows + 1 / cols being the packing per multiply-add of a BLAS call on the tile.
    Where those tiles carry more than cut.direct_work multiply-adds, plan_direct_tiles
    cuts the product instead.
    """
    cdef Py_ssize_t wanted, row_splits, col_splits, rows, cols, count
    cdef Py_ssize_t most_col_splits = ceil_div(n_cols, TILE_COLUMNS)
    cdef Py_ssize_t most_row_splits = max(1, n_rows // MIN_TILE_ROWS)
    cdef double cost, best = -1, work = <double> n_rows * n_cols * inner
    phase.block_rows = n_rows
    phase.block_cols = n_cols
    phase.n_col_blocks = 1
    phase.n_blocks = 1
    wanted = min(blocks_wanted(cut, work), most_row_splits * most_col_splits)
    if wanted <= 1:
        return
    for row_splits in range(1, most_row_splits + 1):
        col_splits = min(ceil_div(wanted, row_splits), most_col_splits)
        rows = ceil_div(n_rows, row_splits)
        cols = n_cols if col_splits == 1 else min(
            n_cols, ceil_div(ceil_div(n_cols, col_splits), TILE_COLUMNS) * TILE_COLUMNS)
        count = ceil_div(n_rows, rows) * ceil_div(n_cols, cols)
        if count < wanted:
            continue
        cost = 1.0 / rows + 1.0 / cols
        if best < 0 or cost < best:
            best = cost
            phase.block_rows = rows
            phase.block_cols = cols
            phase.n_col_blocks = ceil_div(n_cols, cols)
            phase.n_blocks = count
    if (cut.direct_work > 0
            and <double> phase.block_rows * phase.block_cols * inner > cut.direct_work):
        plan_direct_tiles(phase, n_rows, n_cols, inner, cut)


cdef inline Py_ssize_t direct_size(Py_ssize_t whole, Py_ssize_t splits,
                                   Py_ssize_t unit) noexcept nogil:
    """One of `splits` even parts of `whole`, rounded up to a multiple of `unit` (at most
    `whole`)."""
    return min(whole, ceil_div(ceil_div(whole, splits), unit) * unit)


cdef void plan_direct_tiles(Phase* phase, Py_ssize_t n_rows, Py_ssize_t n_cols,
                            Py_ssize_t inner, Cut cut) noexcept nogil:
    """Cut a product into the fewest tiles (at least blocks_wanted) of at most
    cut.direct_work multiply-adds, the most square of those: even splits of the rows and
    columns rounded up to multiples of DIRECT_ROWS and DIRECT_COLUMNS (or the whole
    side), so that BLAS's in-place kernels run whole register blocks. Where no tile is
    small enough, the smallest such tiles."""
    cdef Py_ssize_t wanted = blocks_wanted(cut, <double> n_rows * n_cols * inner)
    cdef Py_ssize_t row_splits, col_splits, rows, cols, count, best_count = -1
    cdef Py_ssize_t last_rows = 0, last_cols
    cdef double cost, best_cost = 0.0
    phase.block_rows = direct_size(n_rows, n_rows, DIRECT_ROWS)
    phase.block_cols = direct_size(n_cols, n_cols, DIRECT_COLUMNS)
    for row_splits in range(1, ceil_div(n_rows, DIRECT_ROWS) + 1):
        rows = direct_size(n_rows, row_splits, DIRECT_ROWS)
        if rows == last_rows:
            continue  # splits that round to the same tiles (most of them, for many rows)
        last_rows, last_cols = rows, 0
        for col_splits in range(1, ceil_div(n_cols, DIRECT_COLUMNS) + 1):
            cols = direct_size(n_cols, col_splits, DIRECT_COLUMNS)
            if cols == last_cols:
                continue
            last_cols = cols
            count = ceil_div(n_rows, rows) * ceil_div(n_cols, cols)
            if <double> rows * cols * inner > cut.direct_work or count < wanted:
                continue
            cost = 1.0 / rows + 1.0 / cols
            if best_count < 0 or count < best_count or (count == best_count
                                                        and cost < best_cost):
                best_count, best_cost = count, cost
                phase.block_rows, phase.block_cols = rows, cols
    phase.n_col_blocks = ceil_div(n_cols, phase.block_cols)
    phase.n_blocks = ceil_div(n_rows, phase.block_rows) * phase.n_col_blocks


cdef Py_ssize_t plan_param_blocks(const Layer* layers, Py_ssize_t n_layers, Py_ssize_t n_rows,
                                  Cut cut, Py_ssize_t n_embeddings,
                                  ParamBlock* blocks) noexcept nogil:
    """Cut the parameters into blocks of coefficient rows, then one block per embedding;
    returns their count.

    Each layer gets a share of blocks_wanted in proportion to its coefficients, rounded
    up (at least one, at most one per coefficient row: uncut, one per layer), cut into
    equal runs of rows. A layer whose runs' gradient products (their rows, the outputs
    and the batch's rows) would carry more than cut.direct_work multiply-adds is cut into
    runs of the most rows that keep each product within it, a multiple of DIRECT_ROWS
    where that fits (the last run maybe shorter). A layer's intercepts go with its first
    block.
    `blocks` must hold param_blocks_bound entries.
    """
    cdef Py_ssize_t layer_index, j, k, count = 0, total = 0, fan_in, wanted, run
    cdef double row_work
    for layer_index in range(n_layers):
        total += layers[layer_index].fan_in * layers[layer_index].fan_out
    wanted = blocks_wanted(cut, <double> n_rows * total)
    for layer_index in range(n_layers):
        fan_in = layers[layer_index].fan_in
        k = 1
        if wanted > 1:
            k = ceil_div(wanted * fan_in * layers[layer_index].fan_out, total)
            k = max(1, min(k, fan_in))
        run = 0  # equal runs
        row_work = <double> layers[layer_index].fan_out * n_rows
        if cut.direct_work > 0 and ceil_div(fan_in, k) * row_work > cut.direct_work:
            run = min(ceil_div(fan_in, k), max(1, <Py_ssize_t> (cut.direct_work / row_work)))
            if run >= DIRECT_ROWS:
                run -= run % DIRECT_ROWS
            k = ceil_div(fan_in, run)
        for j in range(k):
            blocks[count].layer = layer_index
            blocks[count].in_start = fan_in * j // k if run == 0 else j * run
            blocks[count].in_stop = (fan_in * (j + 1) // k if run == 0
                                     else min(fan_in, (j + 1) * run))
            blocks[count].intercepts = j == 0
            blocks[count].embedding = -1
            count += 1
    for j in range(n_embeddings):
        blocks[count].layer = 0
        blocks[count].in_start = 0
        blocks[count].in_stop = 0
        blocks[count].intercepts = False
        blocks[count].embedding = j
        count += 1
    return count


cdef Py_ssize_t param_blocks_bound(const Layer* layers, Py_ssize_t n_layers,
                                   Py_ssize_t n_embeddings) noexcept nogil:
    """The most parameter blocks any cut can give: one per coefficient row and one per
    embedding."""
    return (total_width(layers, n_layers) - layers[n_layers - 1].fan_out + layers[0].fan_in
            + n_embeddings)


cdef Py_ssize_t phases_bound(Py_ssize_t n_layers) noexcept nogil:
    """The most phases of a batch: GATHER, a FORWARD and a BACKWARD per hidden layer,
    OUTPUT, EMBEDDING, and GRADIENT and UPDATE."""
    return 2 * n_layers + 4


cdef void plan_batch(BatchPlan* plan, const Layer* layers, Py_ssize_t n_layers,
                     Py_ssize_t n_rows, bint sparse, bint clip,
                     Py_ssize_t n_embeddings, double direct_work) noexcept nogil:
    """Cut a batch of n_rows rows into phases and blocks, from the shapes alone and the
    BLAS's `direct_work` (see cut_batch_work). plan.phases and plan.param_blocks must hold
    phases_bound and param_blocks_bound entries."""
    cdef Py_ssize_t layer_index, n_weights = 0, last = n_layers - 1, count = 1
    cdef Phase* phase = &plan.phases[0]
    cdef Cut cut
    for layer_index in range(n_layers):
        n_weights += layers[layer_index].fan_in * layers[layer_index].fan_out
    cut = batch_cut(<double> n_rows * n_weights, direct_work)
    plan.n_rows = n_rows
    phase.kind = GATHER_PHASE
    phase.layer = 0
    plan_rows(phase, n_rows, layers[0].fan_in, cut, 0.0)  # copies: the fewest blocks
    for layer_index in range(last):
        phase = &plan.phases[count]
        phase.kind = FORWARD_PHASE
        phase.layer = layer_index
        if sparse and layer_index == 0:
            # CSR rows: blocks of whole rows, each touching only its own nonzeros.
            plan_rows(phase, n_rows, layers[0].fan_out, cut, <double> n_rows * layers[0].fan_out)
        else:
            plan_tiles(phase, n_rows, layers[layer_index].fan_out, layers[layer_index].fan_in,
                       cut)
        count += 1
    phase = &plan.phases[count]
    phase.kind = OUTPUT_PHASE
    phase.layer = last
    plan_rows(phase, n_rows, layers[last].fan_out, cut,
              2.0 * n_rows * layers[last].fan_in * layers[last].fan_out)
    count += 1
    plan.n_loss_phases = count
    for layer_index in range(last - 1, 0, -1):
        phase = &plan.phases[count]
        phase.kind = BACKWARD_PHASE
        phase.layer = layer_index
        plan_tiles(phase, n_rows, layers[layer_index].fan_in, layers[layer_index].fan_out,
                   cut)
        count += 1
    if n_embeddings:
        phase = &plan.phases[count]
        phase.kind = EMBEDDING_PHASE
        phase.layer = 0
        phase.block_rows = n_rows
        phase.block_cols = 0
        phase.n_col_blocks = 1
        phase.n_blocks = n_embeddings
        count += 1
    plan.n_param_blocks = plan_param_blocks(layers, n_layers, n_rows, cut, n_embeddings,
                                            plan.param_blocks)
    for layer_index in range(2 if clip else 1):
        phase = &plan.phases[count]
        phase.kind = (UPDATE_PHASE if layer_index else GRADIENT_PHASE) if clip else PARAM_PHASE
        phase.layer = 0
        phase.block_rows = 0
        phase.block_cols = 0
        phase.n_col_blocks = 1
        phase.n_blocks = plan.n_param_blocks
        count += 1
    plan.n_phases = count
    plan.most_blocks = 1
    for layer_index in range(count):
        plan.most_blocks = max(plan.most_blocks, plan.phases[layer_index].n_blocks)


cdef class BatchPlans:
    """The cuts of a fit's batches: the full batch and, when the rows do not divide
    evenly, the last shorter one (C memory owned here)."""
    cdef CBuffer memory
    cdef BatchPlan full
    cdef BatchPlan last
    cdef Py_ssize_t most_blocks, most_param_blocks, most_output_blocks

    def __cinit__(self, CBuffer table, Py_ssize_t n_layers, Py_ssize_t batch_size,
                  Py_ssize_t n_rows, bint sparse, bint clip, Py_ssize_t n_embeddings,
                  double direct_work):
        cdef const Layer* layers = <const Layer*> table.data
        cdef Py_ssize_t n_phases = phases_bound(n_layers)
        cdef Py_ssize_t n_params = param_blocks_bound(layers, n_layers, n_embeddings)
        self.memory = CBuffer(2 * (n_phases * sizeof(Phase) + n_params * sizeof(ParamBlock)))
        cdef char* at = <char*> self.memory.data
        self.full.phases = <Phase*> at
        self.last.phases = <Phase*> (at + n_phases * sizeof(Phase))
        at += 2 * n_phases * sizeof(Phase)
        self.full.param_blocks = <ParamBlock*> at
        self.last.param_blocks = <ParamBlock*> (at + n_params * sizeof(ParamBlock))
        plan_batch(&self.full, layers, n_layers, min(batch_size, n_rows), sparse, clip,
                   n_embeddings, direct_work)
        plan_batch(&self.last, layers, n_layers,
                   n_rows % batch_size if n_rows % batch_size else min(batch_size, n_rows),
                   sparse, clip, n_embeddings, direct_work)
        self.most_blocks = max(self.full.most_blocks, self.last.most_blocks)
        self.most_param_blocks = max(self.full.n_param_blocks, self.last.n_param_blocks)
        self.most_output_blocks = max(self.full.phases[self.full.n_loss_phases - 1].n_blocks,
                                      self.last.phases[self.last.n_loss_phases - 1].n_blocks)


def batch_is_cut(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_rows):
    """Whether a batch of n_rows rows may be cut into blocks (see cut_batch_work): when
    not, every phase is one block and one thread is all it can use."""
    cdef Py_ssize_t i
    cdef double n_weights = 0
    for i in range(layer_table.shape[0]):
        n_weights += <double> layer_table[i, FAN_IN] * layer_table[i, FAN_OUT]
    cdef Cut cut = batch_cut(n_rows * n_weights, 0.0)
    return cut.full or cut.blocks > 1


def set_cut(double batch_work, Py_ssize_t blocks, double block_work):
    """Set how batches are cut (cut_batch_work, min_blocks, max_block_work); returns the
    settings it replaces. For tests, which cut small networks to exercise the blocks."""
    global cut_batch_work, min_blocks, max_block_work
    if not (batch_work >= 0 and blocks >= 1 and block_work > 0):
        raise ValueError("batch_work >= 0, blocks >= 1 and block_work > 0 are required")
    previous = (cut_batch_work, min_blocks, max_block_work)
    cut_batch_work, min_blocks, max_block_work = batch_work, blocks, block_work
    return previous


PHASE_NAMES = {GATHER_PHASE: "gather", FORWARD_PHASE: "forward", OUTPUT_PHASE: "output",
               BACKWARD_PHASE: "backward", PARAM_PHASE: "param", GRADIENT_PHASE: "gradient",
               UPDATE_PHASE: "update", EMBEDDING_PHASE: "embedding"}


def max_phases(Py_ssize_t n_layers):
    """The most phases a batch of a network of `n_layers` layers has: the rows that
    train_epochs' `block_seconds` needs (for benchmarks)."""
    return phases_bound(n_layers)


def batch_plan(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_rows, bint sparse=False,
               bint clip=False, Py_ssize_t n_embeddings=0, double direct_work=0.0):
    """How train_epochs cuts a batch of n_rows rows (for tests and benchmarks): a list of
    dicts, one per phase, with its kind, layer, block_rows, block_cols and n_blocks, and
    the param phases' blocks as (layer, in_start, in_stop, intercepts) tuples, an
    embedding's block as ("embedding", index). `direct_work` as train_epochs takes it."""
    cdef CBuffer table = layers_from_table(layer_table, -1)
    cdef Py_ssize_t n_layers = layer_table.shape[0], i, b
    if n_rows < 1:
        raise ValueError("a batch has at least one row")
    cdef BatchPlans plans = BatchPlans(table, n_layers, n_rows, n_rows, sparse, clip,
                                       n_embeddings, direct_work)
    cdef const BatchPlan* plan = &plans.full
    phases = []
    for i in range(plan.n_phases):
        phase = {
            "kind": PHASE_NAMES[plan.phases[i].kind], "layer": plan.phases[i].layer,
            "block_rows": plan.phases[i].block_rows, "block_cols": plan.phases[i].block_cols,
            "n_blocks": plan.phases[i].n_blocks,
        }
        phases.append(phase)
        if plan.phases[i].kind >= PARAM_PHASE:
            blocks = []
            for b in range(plan.n_param_blocks):
                if plan.param_blocks[b].embedding >= 0:
                    blocks.append(("embedding", plan.param_blocks[b].embedding))
                    continue
                blocks.append((plan.param_blocks[b].layer, plan.param_blocks[b].in_start,
                               plan.param_blocks[b].in_stop,
                               bool(plan.param_blocks[b].intercepts)))
            phase["blocks"] = blocks
    return phases


def workspace_size(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t batch_size, bint sparse,
                   bint dropout=False, const Py_ssize_t[:, ::1] embedding_table=None):
    """Length of the workspace array that train_epochs needs for this network and batch
    (with dropout on some layer, when `dropout`; with these embeddings)."""
    cdef CBuffer table = layers_from_table(layer_table, -1)
    cdef Py_ssize_t t, embedded_columns = 0
    if embedding_table is not None:
        for t in range(embedding_table.shape[0]):
            embedded_columns += embedding_table[t, EMBEDDING_DIM]
    return plan_workspace(<const Layer*> table.data, layer_table.shape[0], batch_size,
                          sparse, dropout, embedded_columns).size


# --- the blocks ----------------------------------------------------------------------

cdef inline RowBlock input_rows(const BatchWork* work, const floating* x_batch,
                                Py_ssize_t start, Py_ssize_t n_rows) noexcept nogil:
    """The batch's input rows start...start+n_rows-1: gathered dense rows (x_batch, the
    batch's gathered X), or CSR rows."""
    cdef RowBlock block = work.input
    block.n_rows = n_rows
    if not block.sparse:
        block.dense = x_batch + start * work.layers[0].fan_in
    else:
        block.rows = work.order + start
    return block


cdef void gather_block(BatchWork* work, const Phase* phase, Py_ssize_t index,
                       floating* params) noexcept nogil:
    """Copy the block's rows of X (converted to the network's type; not CSR, whose rows
    are read where they are), then the embeddings' rows their codes pick, Y and the
    sample weights into the batch's buffers."""
    cdef Py_ssize_t start = index * phase.block_rows
    cdef Py_ssize_t stop = min(start + phase.block_rows, work.n_batch)
    cdef Py_ssize_t r, row, fan_in = work.layers[0].fan_in, n_features = work.n_x_features
    cdef Py_ssize_t n_outputs = work.layers[work.n_layers - 1].fan_out
    cdef floating* x_batch = <floating*> work.x_batch
    cdef floating* y_batch = <floating*> work.y_batch
    cdef floating* sw_batch = <floating*> work.sw_batch
    cdef const floating* sample_weight = <const floating*> work.sample_weight
    for r in range(start, stop):
        row = work.order[r]
        if not work.input.sparse and work.x_double:
            copy_row(x_batch + r * fan_in, <const double*> work.X + row * n_features,
                     n_features)
        elif not work.input.sparse:
            copy_row(x_batch + r * fan_in, <const float*> work.X + row * n_features,
                     n_features)
        if work.embedded.n_embeddings:
            gather_embeddings(x_batch + r * fan_in, params, &work.embedded, row)
        copy_row(y_batch + r * n_outputs, <const floating*> work.Y + row * n_outputs, n_outputs)
        if sample_weight != NULL:
            sw_batch[r] = sample_weight[row]


cdef inline void tile_bounds(const Phase* phase, Py_ssize_t index, Py_ssize_t n_rows,
                             Py_ssize_t n_cols, Py_ssize_t* row_start, Py_ssize_t* row_stop,
                             Py_ssize_t* col_start, Py_ssize_t* col_stop) noexcept nogil:
    """The rows and columns of block `index` of a tiled phase."""
    row_start[0] = (index // phase.n_col_blocks) * phase.block_rows
    row_stop[0] = min(row_start[0] + phase.block_rows, n_rows)
    col_start[0] = (index % phase.n_col_blocks) * phase.block_cols
    col_stop[0] = min(col_start[0] + phase.block_cols, n_cols)


cdef void forward_tile(BatchWork* work, const Phase* phase, Py_ssize_t index,
                       floating* params) noexcept nogil:
    """One tile of a hidden layer's outputs (and their dropout)."""
    cdef Py_ssize_t row_start, row_stop, col_start, col_stop
    cdef const floating* x_batch = <const floating*> work.x_batch
    tile_bounds(phase, index, work.n_batch, work.layers[phase.layer].fan_out, &row_start,
                &row_stop, &col_start, &col_stop)
    forward_block(work.layers, phase.layer, params,
                  input_rows(work, x_batch, row_start, row_stop - row_start), &work.buffers,
                  work.n_batch, row_start, col_start, col_stop)


cdef double output_block(BatchWork* work, const Phase* phase, Py_ssize_t index,
                         floating* params) noexcept nogil:
    """The output layer, the loss and its delta for a block of rows, and the delta of the
    layer below for the same rows; returns the rows' weighted loss."""
    cdef const Layer* layers = work.layers
    cdef Py_ssize_t last = work.n_layers - 1, n_outputs = layers[last].fan_out
    cdef Py_ssize_t start = index * phase.block_rows
    cdef Py_ssize_t n_rows = min(start + phase.block_rows, work.n_batch) - start
    cdef const floating* sw_batch = <const floating*> work.sw_batch
    cdef const floating* x_batch = <const floating*> work.x_batch
    cdef double loss
    forward_block(layers, last, params, input_rows(work, x_batch, start, n_rows), &work.buffers,
                  work.n_batch, start, 0, n_outputs)
    loss = loss_and_delta(
        &work.options.loss,
        layer_output(layers, last, <floating*> work.buffers.acts, work.n_batch, start),
        <const floating*> work.y_batch + start * n_outputs,
        sw_batch + start if work.sample_weight != NULL else NULL, n_rows, n_outputs,
        layer_output(layers, last, <floating*> work.buffers.deltas, work.n_batch, start))
    if last > 0:
        backward_block(layers, last, params, &work.buffers, work.n_batch, start, n_rows, 0,
                       layers[last - 1].fan_out)
    return loss


cdef void backward_tile(BatchWork* work, const Phase* phase, Py_ssize_t index,
                        floating* params) noexcept nogil:
    """One tile of the delta of the layer below phase.layer, from phase.layer's delta."""
    cdef Py_ssize_t row_start, row_stop, col_start, col_stop
    tile_bounds(phase, index, work.n_batch, work.layers[phase.layer].fan_in, &row_start,
                &row_stop, &col_start, &col_stop)
    backward_block(work.layers, phase.layer, params, &work.buffers, work.n_batch, row_start,
                   row_stop - row_start, col_start, col_stop)


cdef void embedding_block(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """The gradient of embedding `index`'s table from the whole batch, into `grads`.

    Its input columns' gradient is the first layer's delta times the coefficient rows
    they feed, for every row of the batch at once; each row's share is then added to
    the table row its code picked, rows in batch order, so that a level picked by several
    rows sums them in the same order whatever the threads. The table's other rows get a
    zero gradient (the optimizer still moves them, as Adam's moments carry on).
    """
    cdef const Embedding* table = &work.embedded.embeddings[index]
    cdef const Layer* first = &work.layers[0]
    cdef Py_ssize_t r, d, code, n_batch = work.n_batch, dim = table.dim
    cdef Py_ssize_t n_embeddings = work.embedded.n_embeddings
    cdef floating* grads = <floating*> work.grads + table.offset
    cdef floating* inputs_grad = (<floating*> work.embedding_grad
                                  + n_batch * (table.column - work.n_x_features))
    cdef const floating* row_grad
    gemm(False, True, <int> n_batch, <int> dim, <int> first.fan_out, <floating> 1.0,
         layer_output(work.layers, 0, <floating*> work.buffers.deltas, n_batch, 0),
         <int> first.fan_out, params + first.coef_offset + table.column * first.fan_out,
         <int> first.fan_out, <floating> 0.0, inputs_grad, <int> dim)
    memset(grads, 0, table.n_levels * dim * sizeof(floating))
    for r in range(n_batch):
        code = work.embedded.codes[work.order[r] * n_embeddings + index]
        row_grad = inputs_grad + r * dim
        for d in range(dim):
            grads[code * dim + d] += row_grad[d]


cdef double update_range(BatchWork* work, floating* params, Py_ssize_t start,
                         Py_ssize_t stop, floating alpha, bint coefficients) noexcept nogil:
    """Apply the optimizer step to params[start:stop] (coefficients, or intercepts, which
    neither the L2 term `alpha` nor the weight decay touches); returns their new squared
    norm."""
    cdef const EpochOptions* options = work.options
    cdef floating inverse_weight_sum = <floating> work.inverse_weight_sum
    cdef floating* grads = <floating*> work.grads
    cdef floating* moment_1 = <floating*> work.moment_1
    cdef double decay = work.learning_rate * options.weight_decay if coefficients else 0.0
    if options.solver == Solver.SGD:
        sgd_update(params + start, grads + start, moment_1 + start, stop - start, alpha,
                   inverse_weight_sum, work.learning_rate, options.momentum,
                   options.nesterov, decay)
    else:
        adam_update(params + start, grads + start, moment_1 + start,
                    <floating*> work.moment_2 + start, stop - start, alpha,
                    inverse_weight_sum, <floating> work.step_size, options.beta_1,
                    options.beta_2, options.epsilon, decay)
    return dot(<int> (stop - start), params + start, params + start)


cdef inline Py_ssize_t coef_index(const Layer* layer, Py_ssize_t row) noexcept nogil:
    """Where coefficient row `row` of `layer` starts in the parameter vector."""
    return layer.coef_offset + row * layer.fan_out


cdef void block_gradient(BatchWork* work, const ParamBlock* part,
                         floating* grads) noexcept nogil:
    """The data gradient of one parameter block, from the whole batch, into `grads`
    (an embedding's, the EMBEDDING phase's, is there already)."""
    if part.embedding >= 0:
        return
    cdef RowBlock batch = input_rows(work, <const floating*> work.x_batch, 0, work.n_batch)
    layer_gradient(&work.layers[part.layer],
                   layer_inputs(work.layers, part.layer, batch, &work.buffers,
                                <floating*> work.buffers.acts),
                   layer_output(work.layers, part.layer, <floating*> work.buffers.deltas,
                                work.n_batch, 0),
                   grads, part.in_start, part.in_stop, part.intercepts, False, False)


cdef inline void embedding_range(const BatchWork* work, const ParamBlock* part,
                                 Py_ssize_t* start, Py_ssize_t* stop) noexcept nogil:
    """Where an embedding block's table lies in the parameter vector."""
    cdef const Embedding* table = &work.embedded.embeddings[part.embedding]
    start[0] = table.offset
    stop[0] = table.offset + table.n_levels * table.dim


cdef void block_update(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """The optimizer step on one parameter block; keeps the block's new squared norms.

    An embedding's table is decayed as coefficients are (weight_decay) but has no part
    in the L2 term, which is MLP's, of the coefficients; its squared norm is kept with
    the intercepts'.
    """
    cdef const ParamBlock* part = &work.plan.param_blocks[index]
    cdef const Layer* layer = &work.layers[part.layer]
    cdef Py_ssize_t start, stop
    if part.embedding >= 0:
        embedding_range(work, part, &start, &stop)
        work.coef_sq_norm[index] = 0.0
        work.intercept_sq_norm[index] = update_range(work, params, start, stop, 0, True)
        return
    work.coef_sq_norm[index] = update_range(work, params, coef_index(layer, part.in_start),
                                            coef_index(layer, part.in_stop),
                                            <floating> work.options.alpha, True)
    work.intercept_sq_norm[index] = 0.0
    if part.intercepts:
        work.intercept_sq_norm[index] = update_range(
            work, params, layer.intercept_offset, layer.intercept_offset + layer.fan_out, 0,
            False)


cdef double scaled_gradient_sq_norm(const floating* grads, const floating* params,
                                    Py_ssize_t start, Py_ssize_t stop, floating alpha,
                                    floating inverse_weight_sum) noexcept nogil:
    """Squared norm of the gradient the update would apply to params[start:stop]."""
    cdef Py_ssize_t i
    cdef floating grad
    cdef double total = 0.0
    for i in range(start, stop):
        grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
        total += grad * grad
    return total


cdef double block_gradient_sq_norm(BatchWork* work, Py_ssize_t index,
                                   const floating* params) noexcept nogil:
    cdef const ParamBlock* part = &work.plan.param_blocks[index]
    cdef const Layer* layer = &work.layers[part.layer]
    cdef floating inverse_weight_sum = <floating> work.inverse_weight_sum
    cdef Py_ssize_t start, stop
    if part.embedding >= 0:
        embedding_range(work, part, &start, &stop)
        return scaled_gradient_sq_norm(<floating*> work.grads, params, start, stop, 0,
                                       inverse_weight_sum)
    cdef double total = scaled_gradient_sq_norm(
        <floating*> work.grads, params, coef_index(layer, part.in_start),
        coef_index(layer, part.in_stop), <floating> work.options.alpha, inverse_weight_sum)
    if part.intercepts:
        total += scaled_gradient_sq_norm(
            <floating*> work.grads, params, layer.intercept_offset,
            layer.intercept_offset + layer.fan_out, 0, inverse_weight_sum)
    return total


cdef inline void batch_block(BatchWork* work, Py_ssize_t phase_index, Py_ssize_t index,
                             floating* params) noexcept nogil:
    cdef const Phase* phase = &work.plan.phases[phase_index]
    cdef int kind = phase.kind
    cdef double start = 0.0
    if work.block_seconds != NULL:
        start = seconds()
    if kind == GATHER_PHASE:
        gather_block(work, phase, index, params)
    elif kind == FORWARD_PHASE:
        forward_tile(work, phase, index, params)
    elif kind == OUTPUT_PHASE:
        work.row_loss[index] = output_block(work, phase, index, params)
    elif kind == BACKWARD_PHASE:
        backward_tile(work, phase, index, params)
    elif kind == EMBEDDING_PHASE:
        embedding_block(work, index, params)
    elif kind == PARAM_PHASE:
        block_gradient(work, &work.plan.param_blocks[index], <floating*> work.grads)
        block_update(work, index, params)
    elif kind == GRADIENT_PHASE:
        block_gradient(work, &work.plan.param_blocks[index], <floating*> work.grads)
        work.grad_sq_norm[index] = block_gradient_sq_norm(work, index, params)
    else:
        block_update(work, index, params)
    if work.block_seconds != NULL:
        work.block_seconds[phase_index * work.block_seconds_stride + index] += seconds() - start


# The blocks' entry points, one per float type (a function pointer cannot be fused).

cdef void batch_block_double(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    batch_block(<BatchWork*> work, phase, index, <double*> (<BatchWork*> work).params)


cdef void batch_block_float(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    batch_block(<BatchWork*> work, phase, index, <float*> (<BatchWork*> work).params)


# --- the calling thread's side of an epoch ------------------------------------------

cdef double coef_squared_norm(const BatchWork* work, const floating* params) noexcept nogil:
    """The coefficients' squared norm, block by block as the updates compute it."""
    cdef Py_ssize_t b, start, stop
    cdef ParamBlock part
    cdef double total = 0.0
    for b in range(work.plan.n_param_blocks):
        part = work.plan.param_blocks[b]
        if part.embedding >= 0:
            continue
        start = coef_index(&work.layers[part.layer], part.in_start)
        stop = coef_index(&work.layers[part.layer], part.in_stop)
        total += dot(<int> (stop - start), params + start, params + start)
    return total


cdef double batch_weight_sum(const Py_ssize_t* order, Py_ssize_t n_batch,
                             const floating[::1] sample_weight) noexcept nogil:
    cdef Py_ssize_t r
    cdef double total = 0.0
    if sample_weight.shape[0] == 0:
        return n_batch
    for r in range(n_batch):
        total += sample_weight[order[r]]
    return total


cdef inline void run_phases(BatchWork* work, BlockFunction run_block, Py_ssize_t first,
                            Py_ssize_t stop, ThreadGovernor* governor) noexcept nogil:
    """Run phases first...stop-1 of the current batch's plan, in order, each on the
    threads the governor gives it."""
    cdef Py_ssize_t p
    for p in range(first, stop):
        run_governed_phase(run_block, work, p, work.plan.phases[p].n_blocks, governor)


cdef void update_parameters(BatchWork* work, BlockFunction run_block,
                            ThreadGovernor* governor) noexcept nogil:
    """Compute the batch's gradient and apply the optimizer step, block by block.

    With max_grad_norm, the gradient (L2 term included) is first clipped to that global
    norm: the blocks' squared norms are summed in block order, so the clip factor does
    not depend on which thread computed which block.
    """
    cdef const BatchPlan* plan = work.plan
    cdef Py_ssize_t first = plan.n_phases - (2 if work.options.max_grad_norm > 0 else 1)
    cdef double squared = 0.0, norm
    cdef Py_ssize_t b
    run_phases(work, run_block, plan.n_loss_phases, first + 1, governor)
    if work.options.max_grad_norm <= 0:
        return
    for b in range(plan.n_param_blocks):
        squared += work.grad_sq_norm[b]
    norm = sqrt(squared)
    if norm > work.options.max_grad_norm:
        work.inverse_weight_sum *= work.options.max_grad_norm / norm
    run_phases(work, run_block, first + 1, plan.n_phases, governor)


cdef inline const BatchPlan* plan_for(const BatchPlan* full, const BatchPlan* last,
                                      Py_ssize_t n_rows) noexcept nogil:
    """The cut of a batch of n_rows rows: the full batch's, or the last shorter one's."""
    return full if n_rows == full.n_rows else last


cdef EpochResult run_epoch(BatchWork* work, const BatchPlan* full, const BatchPlan* last,
                           BlockFunction run_block, const floating[::1] sample_weight,
                           Py_ssize_t n_rows, Py_ssize_t n_params, long long adam_steps,
                           ThreadGovernor* governor) noexcept nogil:
    """The calling thread's side of the epoch: batches, phases, checks."""
    cdef const EpochOptions* options = work.options
    cdef const Py_ssize_t* order = work.order
    cdef Py_ssize_t start, stop, b
    cdef double weight_sum, data_loss, batch_loss, coef_sq_norm, intercept_sq_norm
    cdef double work_since_check = 0.0, work_per_row = 6.0 * n_params
    cdef bint timed = governor_active(governor)
    cdef EpochResult result
    result.loss_sum = 0.0
    result.adam_steps = adam_steps
    result.status = EpochStatus.COMPLETED
    result.n_batches = 0

    # The L2 term of each batch's loss uses the coefficients before its update; their
    # squared norm is taken once here and then after each update, for the next batch.
    work.plan = full
    coef_sq_norm = coef_squared_norm(work, <const floating*> work.params)
    start = 0
    while start < n_rows:
        stop = min(start + options.batch_size, n_rows)
        work.order = order + start
        work.buffers.row_ids = work.order
        work.n_batch = stop - start
        work.plan = plan_for(full, last, work.n_batch)
        weight_sum = batch_weight_sum(work.order, work.n_batch, sample_weight)
        start = stop
        if weight_sum <= 0:
            # A batch whose weights are all zero carries no information: skip it rather
            # than divide by zero.
            continue

        if timed:
            governor_batch_start(governor, seconds(), work.n_batch)
        run_phases(work, run_block, 0, work.plan.n_loss_phases, governor)
        data_loss = 0.0
        for b in range(work.plan.phases[work.plan.n_loss_phases - 1].n_blocks):
            data_loss += work.row_loss[b]
        batch_loss = (data_loss + 0.5 * options.alpha * coef_sq_norm) / weight_sum
        if not isfinite(batch_loss):
            result.status = EpochStatus.NON_FINITE
            break
        result.loss_sum += batch_loss * work.n_batch

        work.inverse_weight_sum = <floating> (1.0 / weight_sum)
        if options.solver == Solver.ADAM:
            result.adam_steps += 1
            work.step_size = (work.learning_rate
                              * sqrt(1 - pow(options.beta_2, <double> result.adam_steps))
                              / (1 - pow(options.beta_1, <double> result.adam_steps)))
        update_parameters(work, run_block, governor)
        if timed:
            governor_batch_done(governor, seconds(), work.n_batch)
        coef_sq_norm = 0.0
        intercept_sq_norm = 0.0
        for b in range(work.plan.n_param_blocks):
            coef_sq_norm += work.coef_sq_norm[b]
            intercept_sq_norm += work.intercept_sq_norm[b]
        result.n_batches += 1
        # The squared norms are NaN or infinite as soon as any parameter is: divergence is
        # caught at the update that causes it, by the norm the loss needs anyway.
        if not (isfinite(coef_sq_norm) and isfinite(intercept_sq_norm)):
            result.status = EpochStatus.NON_FINITE
            break

        work_since_check += work_per_row * work.n_batch
        if work_since_check >= SIGNAL_CHECK_FLOPS:
            work_since_check = 0.0
            if signal_pending():
                result.status = EpochStatus.INTERRUPTED
                break
    work.order = order
    return result


cdef check_epoch_arguments(const Py_ssize_t[:, ::1] layer_table, bint sparse,
                           const input_floating[:, ::1] X, const int[::1] X_indptr,
                           const floating[:, ::1] Y, const floating[::1] sample_weight,
                           const Py_ssize_t[:, ::1] orders, floating[::1] params,
                           floating[::1] grads, floating[::1] moment_1,
                           floating[::1] moment_2, const EpochOptions* options,
                           Py_ssize_t n_embeddings):
    cdef Py_ssize_t n_layers = layer_table.shape[0], n_params = params.shape[0]
    cdef Py_ssize_t n_rows_in = n_input_rows(sparse, X, X_indptr), i, epoch
    if options.batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if options.solver not in (Solver.SGD, Solver.ADAM):
        raise ValueError(f"unknown solver code {options.solver}")
    if not 0 <= options.loss.code < N_LOSSES:
        raise ValueError(f"unknown loss code {options.loss.code}")
    if grads.shape[0] != n_params or moment_1.shape[0] != n_params:
        raise ValueError("grads and moment_1 must have the same length as params")
    if options.solver == Solver.ADAM and moment_2.shape[0] != n_params:
        raise ValueError("Adam needs moment_2 with the same length as params")
    if Y.shape[0] != n_rows_in or Y.shape[1] != layer_table[n_layers - 1, FAN_OUT]:
        raise ValueError("Y must have one row per input row and one column per output")
    if sample_weight.shape[0] not in (0, n_rows_in):
        raise ValueError("sample_weight must be empty or have one weight per row")
    if n_embeddings and sparse:
        raise ValueError("a network with embeddings reads dense X")
    if not sparse and not n_embeddings and X.shape[1] != layer_table[0, FAN_IN]:
        raise ValueError("X must have one column per input of the first layer")
    for epoch in range(orders.shape[0]):
        for i in range(orders.shape[1]):
            if not 0 <= orders[epoch, i] < n_rows_in:
                raise IndexError(f"orders[{epoch}, {i}] = {orders[epoch, i]} is not a row of X")
    if options.n_threads < 1:
        raise ValueError("n_threads must be at least 1")


cdef bint check_dropout(const double[::1] dropout, Py_ssize_t n_layers) except -1:
    """Whether any layer drops units; the rates must be in [0, 1), the output's 0."""
    cdef Py_ssize_t layer_index
    if dropout is None or dropout.shape[0] == 0:
        return False
    if dropout.shape[0] != n_layers:
        raise ValueError("dropout must hold one rate per layer")
    for layer_index in range(n_layers):
        if not 0 <= dropout[layer_index] < 1:
            raise ValueError(f"dropout rates must be in [0, 1), got {dropout[layer_index]}")
    if dropout[n_layers - 1] != 0:
        raise ValueError("the output layer cannot drop units")
    for layer_index in range(n_layers):
        if dropout[layer_index] > 0:
            return True
    return False


cdef class EpochSetup:
    """What an epoch kernel call sets up once: the layers and embeddings, the batches'
    cuts, the workspace plan and the blocks' result slots (C memory owned here)."""
    cdef CBuffer table
    cdef CBuffer embeddings
    cdef EmbeddingInput embedded
    cdef BatchPlans plans
    cdef double[::1] sums
    cdef WorkspaceLayout plan
    cdef const Layer* layers
    cdef Py_ssize_t n_layers, n_output_blocks, n_param_blocks
    cdef bint with_dropout
    cdef const double[::1] dropout

    def __cinit__(self, const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_params, bint sparse,
                  Py_ssize_t n_rows, Py_ssize_t workspace_length, const double[::1] dropout,
                  EpochOptions options, const Py_ssize_t[:, ::1] embedding_table,
                  const int[:, ::1] codes, Py_ssize_t n_x_rows, Py_ssize_t n_x_features,
                  double direct_work):
        cdef Py_ssize_t n_embeddings = (0 if embedding_table is None
                                        else embedding_table.shape[0])
        self.n_layers = layer_table.shape[0]
        self.with_dropout = check_dropout(dropout, self.n_layers)
        self.dropout = dropout if self.with_dropout else None
        self.table = layers_from_table(layer_table, n_params)
        self.layers = <const Layer*> self.table.data
        self.embeddings = embeddings_from_table(
            embedding_table, layer_table, n_params,
            n_x_features if n_embeddings else layer_table[0, FAN_IN])
        self.embedded = embedding_input(self.embeddings, n_embeddings, codes, n_x_rows)
        self.plan = plan_workspace(self.layers, self.n_layers, options.batch_size, sparse,
                                   self.with_dropout, embedded_width(&self.embedded))
        if workspace_length < self.plan.size:
            raise ValueError(f"workspace must hold at least {self.plan.size} elements")
        self.plans = BatchPlans(self.table, self.n_layers, options.batch_size, n_rows, sparse,
                                options.max_grad_norm > 0, n_embeddings, direct_work)
        self.n_output_blocks = self.plans.most_output_blocks
        self.n_param_blocks = self.plans.most_param_blocks
        self.sums = np.zeros(self.n_output_blocks + 3 * self.n_param_blocks)

    cdef int threads_for(self, int n_threads) noexcept nogil:
        """The threads worth starting: no more than a phase has blocks."""
        return <int> max(1, min(<Py_ssize_t> n_threads, self.plans.most_blocks))


cdef void fill_batch_work(BatchWork* work, EpochSetup setup, EpochOptions* options, bint sparse,
                          const input_floating[:, ::1] X, const floating[::1] X_data,
                          const int[::1] X_indices, const int[::1] X_indptr,
                          const floating[:, ::1] Y, const floating[::1] sample_weight,
                          const Py_ssize_t* order, floating[::1] params, floating[::1] grads,
                          floating[::1] moment_1, floating[::1] moment_2,
                          floating[::1] workspace, double[:, ::1] block_seconds):
    """Point the blocks' shared description at this call's arrays and buffers."""
    cdef WorkspaceLayout plan = setup.plan
    cdef Py_ssize_t n_output_blocks = setup.n_output_blocks
    cdef Py_ssize_t n_param_blocks = setup.n_param_blocks
    work.layers = setup.layers
    work.n_layers = setup.n_layers
    work.options = options
    work.plan = &setup.plans.full
    work.input = csr_block(sparse, X_data, X_indices, X_indptr)
    work.X = &X[0, 0] if not sparse else NULL
    work.x_double = input_floating is double
    work.n_x_features = X.shape[1]
    work.embedded = setup.embedded
    work.embedding_grad = &workspace[plan.embedding_grad]
    work.Y = &Y[0, 0]
    work.sample_weight = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    work.order = order
    work.n_batch = 0
    work.params = &params[0]
    work.grads = &grads[0]
    work.moment_1 = &moment_1[0]
    work.moment_2 = &moment_2[0] if moment_2.shape[0] > 0 else NULL
    work.x_batch = &workspace[plan.x_batch]
    work.y_batch = &workspace[plan.y_batch]
    work.sw_batch = &workspace[plan.sw_batch]
    work.buffers = no_buffers()
    work.buffers.acts = &workspace[plan.acts]
    work.buffers.deltas = &workspace[plan.deltas]
    if plan.dropped > plan.pre:
        work.buffers.pre = &workspace[plan.pre]
    if setup.with_dropout:
        work.buffers.dropped = &workspace[plan.dropped]
        work.buffers.mask = &workspace[plan.mask]
        work.buffers.dropout = &setup.dropout[0]
        work.buffers.seed = options.dropout_seed
    work.row_loss = &setup.sums[0]
    work.coef_sq_norm = &setup.sums[n_output_blocks]
    work.intercept_sq_norm = &setup.sums[n_output_blocks + n_param_blocks]
    work.grad_sq_norm = &setup.sums[n_output_blocks + 2 * n_param_blocks]
    work.block_seconds = NULL
    work.block_seconds_stride = 0
    if block_seconds is not None:
        if (block_seconds.shape[0] < phases_bound(setup.n_layers)
                or block_seconds.shape[1] < setup.plans.most_blocks):
            raise ValueError(f"block_seconds must have at least "
                             f"{phases_bound(setup.n_layers)} rows and "
                             f"{setup.plans.most_blocks} columns")
        work.block_seconds = &block_seconds[0, 0]
        work.block_seconds_stride = block_seconds.shape[1]


# --- the epochs' orders -----------------------------------------------------------------

cdef extern from "numpy/random/bitgen.h":
    # NumPy's interface to a bit generator, RandomState's included.
    ctypedef struct bitgen_t:
        void* state
        uint64_t (*next_uint64)(void* st) noexcept nogil
        uint32_t (*next_uint32)(void* st) noexcept nogil


cdef inline uint64_t legacy_interval(bitgen_t* bitgen, uint64_t max_value) noexcept nogil:
    """A uniform integer in [0, max_value] with RandomState's draws: the smallest bit mask
    covering max_value, rejecting masked draws above it (32-bit draws while they suffice)."""
    cdef uint64_t mask = max_value, value
    if max_value == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if max_value <= UINT32_MAX:
        value = bitgen.next_uint32(bitgen.state) & mask
        while value > max_value:
            value = bitgen.next_uint32(bitgen.state) & mask
    else:
        value = bitgen.next_uint64(bitgen.state) & mask
        while value > max_value:
            value = bitgen.next_uint64(bitgen.state) & mask
    return value


cdef void shuffle_epochs(bitgen_t* bitgen, Py_ssize_t[::1] sample_idx,
                         Py_ssize_t[:, ::1] orders, const Py_ssize_t[::1] train_idx) noexcept nogil:
    cdef Py_ssize_t n = sample_idx.shape[0], epoch, i, j, swap
    for epoch in range(orders.shape[0]):
        for i in range(n - 1, 0, -1):
            j = <Py_ssize_t> legacy_interval(bitgen, <uint64_t> i)
            swap = sample_idx[i]
            sample_idx[i] = sample_idx[j]
            sample_idx[j] = swap
        if train_idx is None:
            for i in range(n):
                orders[epoch, i] = sample_idx[i]
        else:
            for i in range(n):
                orders[epoch, i] = train_idx[sample_idx[i]]


def optimizer_step_py(str solver, floating[::1] params, const floating[::1] grads,
                      floating[::1] moment_1, floating[::1] moment_2, double alpha,
                      double inverse_weight_sum, double rate, double momentum=0.9,
                      bint nesterov=False, double beta_1=0.9, double beta_2=0.999,
                      double epsilon=1e-8, double decay=0.0):
    """One optimizer step on the whole of params, in place, as the epoch kernel takes it
    on a block ("sgd": rate is the learning rate, moment_1 the velocity, moment_2 unused;
    "adam": rate is the bias-corrected step size). For tests."""
    cdef Py_ssize_t n = params.shape[0]
    if grads.shape[0] != n or moment_1.shape[0] != n or moment_2.shape[0] != n:
        raise ValueError("params, grads and the moments must have the same length")
    if solver not in ("sgd", "adam"):
        raise ValueError("solver must be 'sgd' or 'adam'")
    if n == 0:
        return
    if solver == "sgd":
        sgd_update(&params[0], &grads[0], &moment_1[0], n, <floating> alpha,
                   <floating> inverse_weight_sum, <floating> rate, momentum, nesterov, decay)
    else:
        adam_update(&params[0], &grads[0], &moment_1[0], &moment_2[0], n, <floating> alpha,
                    <floating> inverse_weight_sum, <floating> rate, beta_1, beta_2, epsilon,
                    decay)


def draw_orders(object rng, Py_ssize_t[::1] sample_idx, Py_ssize_t[:, ::1] orders,
                const Py_ssize_t[::1] train_idx=None, bint locked=False):
    """Fill each row of ``orders`` with an epoch's rows: ``rng.shuffle(sample_idx)``, then
    ``sample_idx`` (or ``train_idx[sample_idx]``) copied into the row.

    The same draws and swaps as RandomState.shuffle (Fisher-Yates from the last element
    down, each position from RandomState's bounded draw), made in C from the generator's
    bit generator under its lock (which the caller holds already when ``locked``),
    without a Python call per epoch. Leaves ``sample_idx`` and ``rng`` as
    ``len(orders)`` calls of ``rng.shuffle`` would.
    """
    cdef Py_ssize_t n = sample_idx.shape[0]
    if orders.shape[1] != n or (train_idx is not None and train_idx.shape[0] != n):
        raise ValueError("orders, sample_idx and train_idx must have one entry per row")
    bit_generator = rng._bit_generator
    cdef bitgen_t* bitgen = <bitgen_t*> PyCapsule_GetPointer(bit_generator.capsule,
                                                             "BitGenerator")
    if locked:
        with nogil:
            shuffle_epochs(bitgen, sample_idx, orders, train_idx)
    else:
        with bit_generator.lock, nogil:
            shuffle_epochs(bitgen, sample_idx, orders, train_idx)


# --- epochs ----------------------------------------------------------------------------

def train_epochs(const Py_ssize_t[:, ::1] layer_table, bint sparse,
                 const input_floating[:, ::1] X, const floating[::1] X_data,
                 const int[::1] X_indices, const int[::1] X_indptr,
                 const floating[:, ::1] Y, const floating[::1] sample_weight,
                 const Py_ssize_t[:, ::1] orders, floating[::1] params, floating[::1] grads,
                 floating[::1] moment_1, floating[::1] moment_2, floating[::1] workspace,
                 EpochOptions options, LoopState state, bint apply_rules,
                 double[::1] losses, double[::1] rates, floating[::1] saved,
                 const double[::1] dropout=None, double[:, ::1] block_seconds=None,
                 const Py_ssize_t[:, ::1] embedding_table=None, const int[:, ::1] codes=None,
                 double direct_work=0.0):
    """Train one epoch over each row of `orders` (the rows of X it visits, in order), in
    batches of options['batch_size'], stopping early when a rule says so.

    The input is X when not `sparse`, else the CSR matrix given by (X_data, X_indices,
    X_indptr) (see bpnet/_data.py). A dense X may have another float type than the
    network's: its rows are converted as each batch gathers them. A network with
    embeddings (`embedding_table`, see _layout.py) reads a dense X and one code per row
    and embedding in `codes` (see _kernels.predict); their tables are parameters like
    the weights. An empty `sample_weight` means unit weights. `params` is updated in
    place, as are the optimizer's `moment_1` (SGD's velocity or
    Adam's first moment) and `moment_2` (Adam's second moment; empty for SGD). `grads`
    and `workspace` are scratch space (see workspace_size).

    Each epoch runs at the rate start_epoch gives it (into `rates`), and its mean loss
    goes into `losses`; with `apply_rules`, end_epoch then applies the stopping rule and
    the schedule to the training loss (without, the caller scores the epoch and calls
    _rules.end_epoch_py). `saved` (3 * n_params) keeps each epoch's starting
    parameters and moments: an epoch that diverges or is interrupted is undone, so that
    the state is the end of the last complete epoch.

    Each batch is cut into phases and blocks by its shapes (see batch_plan), and
    options['n_threads'] threads share each phase's blocks: the results depend on the
    cut, not on the threads, as long as BLAS runs single-threaded. `dropout`, when given,
    holds each layer's dropout rate (the output layer's 0); options['dropout_seed'] and
    the epoch key its draws. options['max_grad_norm'] > 0 clips each batch's gradient to
    that norm. `block_seconds`, when given (for benchmarks), receives the time each block
    of each phase took, summed over the batches, at [phase, block] (see batch_plan).
    `direct_work` > 0 says that BLAS computes products of up to that many multiply-adds
    of this dtype without packing them, so that large products are cut to that size
    (see cut_batch_work; _threading.direct_product_work gives it).

    A pending signal (Ctrl-C) stops with status INTERRUPTED and clears the exception,
    leaving the caller to decide what an interruption means. Returns a dict: n_epochs
    done, status (COMPLETED when all ran, CONVERGED, NON_FINITE or INTERRUPTED), n_batches
    of the last epoch run, and the new state.
    """
    cdef Py_ssize_t n_params = params.shape[0], n_rows = orders.shape[1], epoch, done = 0
    if not direct_work >= 0:
        raise ValueError(f"direct_work must be at least 0, got {direct_work}")
    if orders.shape[0] < 1 or n_rows < 1:
        raise ValueError("orders must name at least one epoch of at least one row")
    check_epoch_arguments(layer_table, sparse, X, X_indptr, Y, sample_weight, orders, params,
                          grads, moment_1, moment_2, &options,
                          0 if embedding_table is None else embedding_table.shape[0])
    if (losses.shape[0] < orders.shape[0] or rates.shape[0] < orders.shape[0]
            or saved.shape[0] < 3 * n_params):
        raise ValueError("losses and rates must hold one value per epoch and saved "
                         "3 * n_params")
    cdef EpochSetup setup = EpochSetup(layer_table, n_params, sparse, n_rows,
                                       workspace.shape[0], dropout, options, embedding_table,
                                       codes, n_input_rows(sparse, X, X_indptr), X.shape[1],
                                       direct_work)
    cdef BatchWork work
    fill_batch_work(&work, setup, &options, sparse, X, X_data, X_indices, X_indptr, Y,
                    sample_weight, &orders[0, 0], params, grads, moment_1, moment_2,
                    workspace, block_seconds)
    cdef BlockFunction run_block = (batch_block_double if floating is double
                                    else batch_block_float)
    cdef ThreadGovernor governor
    governor_start(&governor, setup.threads_for(options.n_threads),
                   <double> n_params * options.batch_size, seconds())
    governor_resume(&governor)
    cdef EpochResult result
    cdef int status = EpochStatus.COMPLETED
    cdef Py_ssize_t m2 = moment_2.shape[0]
    result.n_batches = 0
    with nogil:
        for epoch in range(orders.shape[0]):
            memcpy(&saved[0], &params[0], n_params * sizeof(floating))
            memcpy(&saved[n_params], &moment_1[0], n_params * sizeof(floating))
            if m2 > 0:
                memcpy(&saved[2 * n_params], &moment_2[0], m2 * sizeof(floating))
            work.order = &orders[epoch, 0]
            work.buffers.epoch = state.epochs_trained
            start_epoch(&state)
            rates[epoch] = state.learning_rate
            work.learning_rate = state.learning_rate
            result = run_epoch(&work, &setup.plans.full, &setup.plans.last, run_block,
                               sample_weight, n_rows, n_params, state.adam_steps, &governor)
            if result.status != EpochStatus.COMPLETED:
                # Undo the epoch: back to the end of the last complete one.
                memcpy(&params[0], &saved[0], n_params * sizeof(floating))
                memcpy(&moment_1[0], &saved[n_params], n_params * sizeof(floating))
                if m2 > 0:
                    memcpy(&moment_2[0], &saved[2 * n_params], m2 * sizeof(floating))
                status = result.status
                break
            state.adam_steps = result.adam_steps
            state.epochs_trained += 1
            losses[epoch] = result.loss_sum / n_rows
            done = epoch + 1
            if apply_rules:
                status = end_epoch(&state, losses[epoch], n_rows)
                if status != EpochStatus.COMPLETED:
                    break
    governor_keep(&governor)
    return {"n_epochs": done, "status": status, "n_batches": result.n_batches,
            "state": state}
