# One epoch of minibatch training (gather, forward, loss, backward, update) in one nogil call.
#
# Each batch runs in two phases. In the first, the batch's rows are cut into row blocks;
# each block gathers its rows, runs the forward pass, the loss and the backward pass down
# to every layer's delta, touching only its own rows. In the second, the parameters are
# cut into blocks of coefficient rows (a layer's intercepts go with its first block); each
# block computes its gradient from the whole batch's activations and deltas and applies
# the optimizer step to its own parameters. A thread team (_team.pyx) runs the blocks of
# each phase; this module only says what a block does.
#
# How the work is cut depends only on the shapes (EpochOptions.n_row_blocks and
# n_param_blocks), never on the number of threads or on which thread ran a block: every
# number the epoch produces is the same with one thread or several, loaded or idle,
# provided BLAS itself runs single-threaded (the estimators make sure of that; OpenBLAS
# can round differently with more threads).
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt
from libc.stdint cimport UINT32_MAX, uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer

import numpy as np

from ._blas cimport dot
from ._kernels cimport (CBuffer, Layer, LayerBuffers, RowBlock, any_needs_preactivation,
                        forward_and_deltas, layer_gradient, layer_inputs, layer_output,
                        layers_from_table, make_block, n_input_rows, no_buffers,
                        signal_pending, total_width)
from ._losses cimport LossFunction, N_LOSSES
from ._team cimport (MAX_PHASE_BLOCKS, MAX_TEAM_HELPERS, BlockFunction, Team, team_run_phase,
                     team_start, team_stop)


cdef extern from "numpy/random/bitgen.h":
    # NumPy's bit generator interface: RandomState draws its shuffles from it.
    ctypedef struct bitgen_t:
        void* state
        uint64_t (*next_uint64)(void* st) noexcept nogil
        uint32_t (*next_uint32)(void* st) noexcept nogil


cpdef enum Solver:
    SGD = 0
    ADAM = 1


cpdef enum EpochStatus:
    COMPLETED = 0
    NON_FINITE = 1    # a batch loss or a parameter became NaN or infinite
    INTERRUPTED = 2   # a signal handler raised (Ctrl-C); the exception was cleared
    CONVERGED = 3     # train_epochs: the training loss stopped improving


cpdef enum Schedule:
    CONSTANT = 0
    INVSCALING = 1
    ADAPTIVE = 2


# What train_epochs needs besides one epoch's options: how many epochs, and the state of
# the training-loss stopping rule and of SGD's learning-rate schedule (see
# bpnet/_training.py and bpnet/_optimizers.py, whose rules these follow).
cdef struct RunOptions:
    Py_ssize_t n_epochs
    bint shuffle
    double tol
    double n_iter_no_change     # may be inf
    double best_loss
    long long no_improvement_count
    long long samples_seen      # the estimator's t_
    int schedule
    double learning_rate_init
    double power_t


SOLVER_CODES = {"sgd": Solver.SGD, "adam": Solver.ADAM}


# Everything about one epoch that is not an array. Python passes a dict with these keys
# (bpnet/_optimizers.py gives the optimizer's, bpnet/_training.py the rest). New training
# options (gradient clipping, dropout rates, ...) become new fields here.
cdef struct EpochOptions:
    int solver
    LossFunction loss
    double alpha
    double learning_rate    # SGD's current rate, or Adam's initial rate
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon
    Py_ssize_t batch_size
    long long adam_steps    # Adam's time step before this epoch
    Py_ssize_t n_row_blocks     # a batch's forward and backward passes run in this many
    Py_ssize_t n_param_blocks   # row blocks, its gradient and update in about this many
                                # parameter blocks; both decide the results
    int n_threads               # threads sharing the blocks; never changes the results
    double max_grad_norm        # clip each batch's gradient to this L2 norm; 0: never
    unsigned long long dropout_seed   # dropout's draws are keyed by (dropout_seed, epoch,
    long long epoch                   # row, unit); epoch counts every epoch trained


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
    Py_ssize_t size


# A block of parameters for the second phase: coefficient rows in_start...in_stop-1 of
# one layer, with that layer's intercepts when `intercepts` is set.
cdef struct ParamBlock:
    Py_ssize_t layer
    Py_ssize_t in_start
    Py_ssize_t in_stop
    bint intercepts


# What the blocks of the current batch read and write. The calling thread fills it in
# between phases. A struct cannot be fused, so the value pointers are untyped here; each
# phase's block function is compiled for one float type and casts them once.
cdef struct BatchWork:
    const Layer* layers
    Py_ssize_t n_layers
    const EpochOptions* options
    RowBlock input              # the batch's input rows (dense rows gathered into x_batch)
    LayerBuffers buffers        # activations, deltas and dropout's buffers of the batch
    const void* X               # dense X, unused for CSR input
    const void* Y
    const void* sample_weight   # NULL for unit weights
    const Py_ssize_t* order     # the batch's rows of X
    Py_ssize_t n_batch
    Py_ssize_t n_row_blocks
    const ParamBlock* param_blocks
    void* params
    void* grads
    void* moment_1
    void* moment_2
    void* x_batch
    void* y_batch
    void* sw_batch
    double* row_loss            # per row block: weighted loss of its rows
    double* coef_sq_norm        # per parameter block: squared norms after the update
    double* intercept_sq_norm
    double* grad_sq_norm        # per parameter block: its gradient's squared norm
    double inverse_weight_sum
    double step_size            # Adam's bias-corrected step


# The phases of a batch. Without gradient clipping, each parameter block computes its
# gradient and applies its update in one phase; with it, the gradients come first, then
# their norm (reduced over the blocks in a fixed order), then the clipped updates.
cdef enum:
    ROW_PHASE = 0
    PARAM_PHASE = 1
    GRADIENT_PHASE = 2
    UPDATE_PHASE = 3


# Work, in floating-point operations, between two checks for a pending signal: a few
# milliseconds of training, so Ctrl-C is noticed quickly without taking the GIL often.
cdef enum:
    SIGNAL_CHECK_FLOPS = 20000000


cdef WorkspaceLayout plan_workspace(const Layer* layers, Py_ssize_t n_layers,
                                    Py_ssize_t batch_size, bint sparse,
                                    bint dropout) noexcept nogil:
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
    plan.size = plan.mask + (layer_rows if dropout else 0)
    return plan


def param_blocks(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t target):
    """The parameter blocks of the update phase, as (layer, in_start, in_stop, intercepts)
    tuples, for `target` blocks (for tests and benchmarks)."""
    cdef Py_ssize_t n_layers = layer_table.shape[0], i, count
    if not 1 <= target <= MAX_PHASE_BLOCKS // max(1, n_layers):
        raise ValueError(f"target must be at least 1 and give at most {MAX_PHASE_BLOCKS} blocks")
    cdef CBuffer table = layers_from_table(layer_table, -1)
    cdef CBuffer buffer = CBuffer(n_layers * target * sizeof(ParamBlock))
    cdef ParamBlock* blocks = <ParamBlock*> buffer.data
    count = plan_param_blocks(<const Layer*> table.data, n_layers, target, blocks)
    return [(blocks[i].layer, blocks[i].in_start, blocks[i].in_stop, bool(blocks[i].intercepts))
            for i in range(count)]


def workspace_size(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t batch_size, bint sparse,
                   bint dropout=False):
    """Length of the workspace array that train_epoch needs for this network and batch
    (with dropout on some layer, when `dropout`)."""
    cdef CBuffer table = layers_from_table(layer_table, -1)
    return plan_workspace(<const Layer*> table.data, layer_table.shape[0], batch_size,
                          sparse, dropout).size


cdef Py_ssize_t plan_param_blocks(const Layer* layers, Py_ssize_t n_layers,
                                  Py_ssize_t target, ParamBlock* blocks) noexcept nogil:
    """Cut the parameters into about `target` blocks of similar work; returns the count.

    Each layer gets a share of the blocks in proportion to its coefficients (at least
    one, at most one per coefficient row) and is cut into equal runs of rows; its
    intercepts go with its first block. `blocks` must hold n_layers * target entries.
    """
    cdef Py_ssize_t layer_index, j, k, count = 0, total = 0, fan_in
    for layer_index in range(n_layers):
        total += layers[layer_index].fan_in * layers[layer_index].fan_out
    for layer_index in range(n_layers):
        fan_in = layers[layer_index].fan_in
        k = (2 * target * fan_in * layers[layer_index].fan_out + total) // (2 * total)  # rounded
        k = max(1, min(k, fan_in, target))
        for j in range(k):
            blocks[count].layer = layer_index
            blocks[count].in_start = fan_in * j // k
            blocks[count].in_stop = fan_in * (j + 1) // k
            blocks[count].intercepts = j == 0
            count += 1
    return count


cdef inline void copy_row(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[:n]. Short rows (a few features, the outputs) by a plain loop: a
    memcpy call per row cost more than the copying on data as small as iris."""
    cdef Py_ssize_t j
    if n > 32:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for j in range(n):
            dst[j] = src[j]


cdef void row_block(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """Phase one for row block `index`: gather its rows, forward, loss and deltas."""
    cdef const Layer* layers = work.layers
    cdef Py_ssize_t n_batch = work.n_batch
    cdef Py_ssize_t start = n_batch * index // work.n_row_blocks
    cdef Py_ssize_t stop = n_batch * (index + 1) // work.n_row_blocks
    cdef Py_ssize_t r, row, n_features = layers[0].fan_in
    cdef Py_ssize_t n_outputs = layers[work.n_layers - 1].fan_out
    cdef floating* x_batch = <floating*> work.x_batch
    cdef floating* y_batch = <floating*> work.y_batch
    cdef floating* sw_batch = <floating*> work.sw_batch
    cdef const floating* sample_weight = <const floating*> work.sample_weight
    cdef RowBlock block = work.input
    block.n_rows = stop - start
    if not block.sparse:
        for r in range(start, stop):
            copy_row(x_batch + r * n_features,
                     <const floating*> work.X + work.order[r] * n_features, n_features)
        block.dense = x_batch + start * n_features
    else:
        block.rows = work.order + start
    for r in range(start, stop):
        row = work.order[r]
        copy_row(y_batch + r * n_outputs, <const floating*> work.Y + row * n_outputs, n_outputs)
        if sample_weight != NULL:
            sw_batch[r] = sample_weight[row]
    work.row_loss[index] = forward_and_deltas(
        layers, work.n_layers, &work.options.loss, params, block, n_batch, start,
        y_batch + start * n_outputs, sw_batch + start if sample_weight != NULL else NULL,
        &work.buffers)


# The update loops carry no reduction, so the compiler can vectorise them; the squared
# norms the caller needs come from BLAS dot products afterwards.

cdef extern from *:
    """
    #include <math.h>
    #include "_clones.h"

    /* The optimizer steps on a range of parameters, in C for BPNET_CLONES: each element
       takes the same operations in the same order in every version (no FMA, setup.py's
       -ffp-contract=off), and square root and division round exactly at any vector
       width, so AVX-512, AVX2 and plain x86-64 give the same bits. With the parameters'
       state in cache (a small network) the square roots and divisions are most of an
       Adam step, which SSE2 alone takes two at a time. (1.0 - beta) is a double, as it
       always was here: in float32 that part of a moment is computed in double and the
       sum rounded to float32. */
    #define BPNET_DEFINE_SGD_UPDATE(NAME, T)                                               \
    BPNET_CLONES static void NAME(T* __restrict params, const T* __restrict grads,         \
                                  T* __restrict velocity, Py_ssize_t n, T alpha,           \
                                  T inverse_weight_sum, T learning_rate, T momentum,       \
                                  int nesterov) {                                          \
        if (nesterov) {                                                                    \
            for (Py_ssize_t i = 0; i < n; i++) {                                           \
                T grad = (grads[i] + alpha * params[i]) * inverse_weight_sum;              \
                T step = momentum * velocity[i] - learning_rate * grad;                    \
                velocity[i] = step;                                                        \
                params[i] = params[i] + (momentum * step - learning_rate * grad);          \
            }                                                                              \
        } else {                                                                           \
            for (Py_ssize_t i = 0; i < n; i++) {                                           \
                T grad = (grads[i] + alpha * params[i]) * inverse_weight_sum;              \
                T step = momentum * velocity[i] - learning_rate * grad;                    \
                velocity[i] = step;                                                        \
                params[i] = params[i] + step;                                              \
            }                                                                              \
        }                                                                                  \
    }
    #define BPNET_DEFINE_ADAM_UPDATE(NAME, T, SQRT)                                        \
    BPNET_CLONES static void NAME(T* __restrict params, const T* __restrict grads,         \
                                  T* __restrict first_moment, T* __restrict second_moment, \
                                  Py_ssize_t n, T alpha, T inverse_weight_sum, T step_size, \
                                  T beta_1, T beta_2, T epsilon) {                         \
        for (Py_ssize_t i = 0; i < n; i++) {                                               \
            T grad = (grads[i] + alpha * params[i]) * inverse_weight_sum;                  \
            T m = beta_1 * first_moment[i] + (1.0 - beta_1) * grad;                        \
            T v = beta_2 * second_moment[i] + (1.0 - beta_2) * (grad * grad);              \
            first_moment[i] = m;                                                           \
            second_moment[i] = v;                                                          \
            params[i] = params[i] + ((-step_size) * m) / (SQRT(v) + epsilon);              \
        }                                                                                  \
    }
    BPNET_DEFINE_SGD_UPDATE(bpnet_sgd_update_float, float)
    BPNET_DEFINE_SGD_UPDATE(bpnet_sgd_update_double, double)
    /* sqrtf keeps float32 in float32, as NumPy does. */
    BPNET_DEFINE_ADAM_UPDATE(bpnet_adam_update_float, float, sqrtf)
    BPNET_DEFINE_ADAM_UPDATE(bpnet_adam_update_double, double, sqrt)
    """
    void sgd_update_float "bpnet_sgd_update_float" (
        float* params, const float* grads, float* velocity, Py_ssize_t n, float alpha,
        float inverse_weight_sum, float learning_rate, float momentum,
        int nesterov) noexcept nogil
    void sgd_update_double "bpnet_sgd_update_double" (
        double* params, const double* grads, double* velocity, Py_ssize_t n, double alpha,
        double inverse_weight_sum, double learning_rate, double momentum,
        int nesterov) noexcept nogil
    void adam_update_float "bpnet_adam_update_float" (
        float* params, const float* grads, float* first_moment, float* second_moment,
        Py_ssize_t n, float alpha, float inverse_weight_sum, float step_size, float beta_1,
        float beta_2, float epsilon) noexcept nogil
    void adam_update_double "bpnet_adam_update_double" (
        double* params, const double* grads, double* first_moment, double* second_moment,
        Py_ssize_t n, double alpha, double inverse_weight_sum, double step_size,
        double beta_1, double beta_2, double epsilon) noexcept nogil


cdef void sgd_update(floating* params, const floating* grads, floating* velocity,
                     Py_ssize_t start, Py_ssize_t stop, floating alpha,
                     floating inverse_weight_sum, const EpochOptions* options) noexcept nogil:
    """Momentum or Nesterov step on params[start:stop]."""
    if floating is float:
        sgd_update_float(params + start, grads + start, velocity + start, stop - start, alpha,
                         inverse_weight_sum, <float> options.learning_rate,
                         <float> options.momentum, options.nesterov)
    else:
        sgd_update_double(params + start, grads + start, velocity + start, stop - start,
                          alpha, inverse_weight_sum, options.learning_rate, options.momentum,
                          options.nesterov)


cdef void adam_update(floating* params, const floating* grads, floating* first_moment,
                      floating* second_moment, Py_ssize_t start, Py_ssize_t stop,
                      floating alpha, floating inverse_weight_sum, floating step_size,
                      const EpochOptions* options) noexcept nogil:
    """Adam step on params[start:stop]."""
    if floating is float:
        adam_update_float(params + start, grads + start, first_moment + start,
                          second_moment + start, stop - start, alpha, inverse_weight_sum,
                          step_size, <float> options.beta_1, <float> options.beta_2,
                          <float> options.epsilon)
    else:
        adam_update_double(params + start, grads + start, first_moment + start,
                           second_moment + start, stop - start, alpha, inverse_weight_sum,
                           step_size, options.beta_1, options.beta_2, options.epsilon)


cdef double update_range(BatchWork* work, floating* params, Py_ssize_t start,
                         Py_ssize_t stop, floating alpha) noexcept nogil:
    """Apply the optimizer step to params[start:stop]; returns their new squared norm."""
    cdef const EpochOptions* options = work.options
    cdef floating inverse_weight_sum = <floating> work.inverse_weight_sum
    if options.solver == Solver.SGD:
        sgd_update(params, <floating*> work.grads, <floating*> work.moment_1, start, stop,
                   alpha, inverse_weight_sum, options)
    else:
        adam_update(params, <floating*> work.grads, <floating*> work.moment_1,
                    <floating*> work.moment_2, start, stop, alpha, inverse_weight_sum,
                    <floating> work.step_size, options)
    return dot(<int> (stop - start), params + start, params + start)


cdef inline Py_ssize_t coef_index(const Layer* layer, Py_ssize_t row) noexcept nogil:
    """Where coefficient row `row` of `layer` starts in the parameter vector."""
    return layer.coef_offset + row * layer.fan_out


cdef void block_gradient(BatchWork* work, const ParamBlock* part, floating* grads) noexcept nogil:
    """The data gradient of one parameter block, from the whole batch, into `grads`."""
    cdef RowBlock batch_input = work.input
    batch_input.n_rows = work.n_batch
    if not batch_input.sparse:
        batch_input.dense = work.x_batch
    else:
        batch_input.rows = work.order
    layer_gradient(&work.layers[part.layer],
                   layer_inputs(work.layers, part.layer, batch_input, &work.buffers,
                                <floating*> work.buffers.acts),
                   layer_output(work.layers, part.layer, <floating*> work.buffers.deltas,
                                work.n_batch, 0),
                   grads, part.in_start, part.in_stop, part.intercepts, False, False)


cdef void block_update(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """The optimizer step on one parameter block; keeps the block's new squared norms."""
    cdef const ParamBlock* part = &work.param_blocks[index]
    cdef const Layer* layer = &work.layers[part.layer]
    work.coef_sq_norm[index] = update_range(work, params, coef_index(layer, part.in_start),
                                            coef_index(layer, part.in_stop),
                                            <floating> work.options.alpha)
    work.intercept_sq_norm[index] = 0.0
    if part.intercepts:
        work.intercept_sq_norm[index] = update_range(
            work, params, layer.intercept_offset, layer.intercept_offset + layer.fan_out, 0)


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
    cdef const ParamBlock* part = &work.param_blocks[index]
    cdef const Layer* layer = &work.layers[part.layer]
    cdef floating inverse_weight_sum = <floating> work.inverse_weight_sum
    cdef double total = scaled_gradient_sq_norm(
        <floating*> work.grads, params, coef_index(layer, part.in_start),
        coef_index(layer, part.in_stop), <floating> work.options.alpha, inverse_weight_sum)
    if part.intercepts:
        total += scaled_gradient_sq_norm(
            <floating*> work.grads, params, layer.intercept_offset,
            layer.intercept_offset + layer.fan_out, 0, inverse_weight_sum)
    return total


cdef inline void batch_block(BatchWork* work, int kind, Py_ssize_t index,
                             floating* params) noexcept nogil:
    if kind == ROW_PHASE:
        row_block(work, index, params)
    elif kind == PARAM_PHASE:
        block_gradient(work, &work.param_blocks[index], <floating*> work.grads)
        block_update(work, index, params)
    elif kind == GRADIENT_PHASE:
        block_gradient(work, &work.param_blocks[index], <floating*> work.grads)
        work.grad_sq_norm[index] = block_gradient_sq_norm(work, index, params)
    else:
        block_update(work, index, params)


# The team's block functions, one per float type (a function pointer cannot be fused).

cdef void batch_block_double(void* work, int kind, Py_ssize_t index) noexcept nogil:
    batch_block(<BatchWork*> work, kind, index, <double*> (<BatchWork*> work).params)


cdef void batch_block_float(void* work, int kind, Py_ssize_t index) noexcept nogil:
    batch_block(<BatchWork*> work, kind, index, <float*> (<BatchWork*> work).params)


cdef double coef_squared_norm(const BatchWork* work, const floating* params,
                              Py_ssize_t n_param_blocks) noexcept nogil:
    """The coefficients' squared norm, block by block as the updates compute it."""
    cdef Py_ssize_t b, start, stop
    cdef ParamBlock part
    cdef double total = 0.0
    for b in range(n_param_blocks):
        part = work.param_blocks[b]
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


cdef void update_parameters(Team* team, BatchWork* work,
                            Py_ssize_t n_param_blocks) noexcept nogil:
    """Compute the batch's gradient and apply the optimizer step, block by block.

    With max_grad_norm, the gradient (L2 term included) is first clipped to that global
    norm: the blocks' squared norms are summed in block order, so the clip factor does
    not depend on which thread computed which block.
    """
    cdef double max_norm = work.options.max_grad_norm, squared = 0.0, norm
    cdef Py_ssize_t b
    if max_norm <= 0:
        team_run_phase(team, PARAM_PHASE, n_param_blocks)
        return
    team_run_phase(team, GRADIENT_PHASE, n_param_blocks)
    for b in range(n_param_blocks):
        squared += work.grad_sq_norm[b]
    norm = sqrt(squared)
    if norm > max_norm:
        work.inverse_weight_sum *= max_norm / norm
    team_run_phase(team, UPDATE_PHASE, n_param_blocks)


cdef EpochResult run_epoch(Team* team, BatchWork* work, const floating[::1] sample_weight,
                           Py_ssize_t n_rows, Py_ssize_t n_params,
                           Py_ssize_t n_param_blocks) noexcept nogil:
    """The calling thread's side of the epoch: batches, phases, checks."""
    cdef const EpochOptions* options = work.options
    cdef const Py_ssize_t* order = work.order
    cdef Py_ssize_t start, stop, b
    cdef double weight_sum, data_loss, batch_loss, coef_sq_norm, intercept_sq_norm
    cdef double work_since_check = 0.0, work_per_row = 6.0 * n_params
    cdef EpochResult result
    result.loss_sum = 0.0
    result.adam_steps = options.adam_steps
    result.status = EpochStatus.COMPLETED
    result.n_batches = 0

    # The L2 term of each batch's loss uses the coefficients before its update; their
    # squared norm is taken once here and then after each update, for the next batch.
    coef_sq_norm = coef_squared_norm(work, <const floating*> work.params, n_param_blocks)
    start = 0
    while start < n_rows:
        stop = min(start + options.batch_size, n_rows)
        work.order = order + start
        work.buffers.row_ids = work.order
        work.n_batch = stop - start
        work.n_row_blocks = min(options.n_row_blocks, work.n_batch)
        weight_sum = batch_weight_sum(work.order, work.n_batch, sample_weight)
        start = stop
        if weight_sum <= 0:
            # A batch whose weights are all zero carries no information: skip it rather
            # than divide by zero.
            continue

        team_run_phase(team, ROW_PHASE, work.n_row_blocks)
        data_loss = 0.0
        for b in range(work.n_row_blocks):
            data_loss += work.row_loss[b]
        batch_loss = (data_loss + 0.5 * options.alpha * coef_sq_norm) / weight_sum
        if not isfinite(batch_loss):
            result.status = EpochStatus.NON_FINITE
            break
        result.loss_sum += batch_loss * work.n_batch

        work.inverse_weight_sum = <floating> (1.0 / weight_sum)
        if options.solver == Solver.ADAM:
            result.adam_steps += 1
            work.step_size = (options.learning_rate
                              * sqrt(1 - pow(options.beta_2, <double> result.adam_steps))
                              / (1 - pow(options.beta_1, <double> result.adam_steps)))
        update_parameters(team, work, n_param_blocks)
        coef_sq_norm = 0.0
        intercept_sq_norm = 0.0
        for b in range(n_param_blocks):
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
    return result


cdef check_epoch_arguments(const Py_ssize_t[:, ::1] layer_table, bint sparse,
                           const floating[:, ::1] X, const int[::1] X_indptr,
                           const floating[:, ::1] Y, const floating[::1] sample_weight,
                           const Py_ssize_t[::1] order, floating[::1] params,
                           floating[::1] grads, floating[::1] moment_1,
                           floating[::1] moment_2, const EpochOptions* options):
    cdef Py_ssize_t n_layers = layer_table.shape[0], n_params = params.shape[0]
    cdef Py_ssize_t n_rows_in = n_input_rows(sparse, X, X_indptr), i
    if order.shape[0] == 0:
        raise ValueError("order must name at least one row")
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
    if Y.shape[0] != n_rows_in or Y.shape[1] != layer_table[n_layers - 1, 1]:
        raise ValueError("Y must have one row per input row and one column per output")
    if sample_weight.shape[0] not in (0, n_rows_in):
        raise ValueError("sample_weight must be empty or have one weight per row")
    if not sparse and X.shape[1] != layer_table[0, 0]:
        raise ValueError("X must have one column per input of the first layer")
    for i in range(order.shape[0]):
        if not 0 <= order[i] < n_rows_in:
            raise IndexError(f"order[{i}] = {order[i]} is not a row of X")
    # Compared without multiplying, so that no product can overflow.
    if not (1 <= options.n_row_blocks <= MAX_PHASE_BLOCKS
            and 1 <= options.n_param_blocks <= MAX_PHASE_BLOCKS // n_layers
            and options.n_threads >= 1):
        raise ValueError(f"n_row_blocks and n_param_blocks must be at least 1 and give at "
                         f"most {MAX_PHASE_BLOCKS} blocks; n_threads must be at least 1")


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
    """What an epoch kernel call sets up once: the layers, the parameter blocks, the
    workspace plan and the blocks' result slots (C memory owned here)."""
    cdef CBuffer table
    cdef CBuffer blocks
    cdef double[::1] sums
    cdef WorkspaceLayout plan
    cdef const Layer* layers
    cdef Py_ssize_t n_layers, n_row_blocks, n_param_blocks
    cdef bint with_dropout
    cdef const double[::1] dropout

    def __cinit__(self, const Py_ssize_t[:, ::1] layer_table, Py_ssize_t n_params, bint sparse,
                  Py_ssize_t workspace_length, const double[::1] dropout, EpochOptions options):
        self.n_layers = layer_table.shape[0]
        self.with_dropout = check_dropout(dropout, self.n_layers)
        self.dropout = dropout if self.with_dropout else None
        self.table = layers_from_table(layer_table, n_params)
        self.layers = <const Layer*> self.table.data
        self.plan = plan_workspace(self.layers, self.n_layers, options.batch_size, sparse,
                                   self.with_dropout)
        if workspace_length < self.plan.size:
            raise ValueError(f"workspace must hold at least {self.plan.size} elements")
        self.n_row_blocks = min(options.n_row_blocks, options.batch_size)
        self.blocks = CBuffer(self.n_layers * options.n_param_blocks * sizeof(ParamBlock))
        self.n_param_blocks = plan_param_blocks(self.layers, self.n_layers,
                                                options.n_param_blocks,
                                                <ParamBlock*> self.blocks.data)
        self.sums = np.zeros(self.n_row_blocks + 3 * self.n_param_blocks)


cdef void fill_batch_work(BatchWork* work, EpochSetup setup, EpochOptions* options, bint sparse,
                          const floating[:, ::1] X, const floating[::1] X_data,
                          const int[::1] X_indices, const int[::1] X_indptr,
                          const floating[:, ::1] Y, const floating[::1] sample_weight,
                          const Py_ssize_t* order, floating[::1] params, floating[::1] grads,
                          floating[::1] moment_1, floating[::1] moment_2,
                          floating[::1] workspace):
    """Point the blocks' shared description at this call's arrays and buffers."""
    cdef WorkspaceLayout plan = setup.plan
    cdef Py_ssize_t n_row_blocks = setup.n_row_blocks, n_param_blocks = setup.n_param_blocks
    work.layers = setup.layers
    work.n_layers = setup.n_layers
    work.options = options
    work.input = make_block(sparse, X, X_data, X_indices, X_indptr, 0, 0)
    work.X = &X[0, 0] if not sparse else NULL
    work.Y = &Y[0, 0]
    work.sample_weight = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    work.order = order
    work.param_blocks = <const ParamBlock*> setup.blocks.data
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
        work.buffers.epoch = options.epoch
    work.row_loss = &setup.sums[0]
    work.coef_sq_norm = &setup.sums[n_row_blocks]
    work.intercept_sq_norm = &setup.sums[n_row_blocks + n_param_blocks]
    work.grad_sq_norm = &setup.sums[n_row_blocks + 2 * n_param_blocks]


def train_epoch(const Py_ssize_t[:, ::1] layer_table, bint sparse,
                const floating[:, ::1] X, const floating[::1] X_data,
                const int[::1] X_indices, const int[::1] X_indptr,
                const floating[:, ::1] Y, const floating[::1] sample_weight,
                const Py_ssize_t[::1] order, floating[::1] params, floating[::1] grads,
                floating[::1] moment_1, floating[::1] moment_2, floating[::1] workspace,
                EpochOptions options, const double[::1] dropout=None):
    """Train one epoch over the rows `order`, in batches of options['batch_size'].

    The input is X when not `sparse`, else the CSR matrix given by (X_data, X_indices,
    X_indptr) (see bpnet/_data.py). An empty `sample_weight` means unit weights.
    `params` is updated in place, as are the optimizer's `moment_1` (SGD's velocity or
    Adam's first moment) and `moment_2` (Adam's second moment; unused by SGD).
    `grads` and `workspace` are scratch space (see workspace_size). Returns a dict with
    loss_sum, adam_steps, status (an EpochStatus) and n_batches.

    The batches are cut into options['n_row_blocks'] row blocks and about
    options['n_param_blocks'] parameter blocks, shared by options['n_threads'] threads;
    the results depend on the cut, not on the threads, as long as BLAS runs
    single-threaded.

    `dropout`, when given, holds each layer's dropout rate (the output layer's is 0);
    options['dropout_seed'] and options['epoch'] key its draws. options['max_grad_norm']
    > 0 clips each batch's gradient to that norm.

    A pending signal (Ctrl-C) stops the epoch with status INTERRUPTED and clears the
    exception, leaving the caller to decide what an interruption means.
    """
    check_epoch_arguments(layer_table, sparse, X, X_indptr, Y, sample_weight, order, params,
                          grads, moment_1, moment_2, &options)
    cdef EpochSetup setup = EpochSetup(layer_table, params.shape[0], sparse, workspace.shape[0],
                                       dropout, options)
    cdef BatchWork work
    fill_batch_work(&work, setup, &options, sparse, X, X_data, X_indices, X_indptr, Y,
                    sample_weight, &order[0], params, grads, moment_1, moment_2, workspace)
    cdef Py_ssize_t n_params = params.shape[0]
    cdef Py_ssize_t n_row_blocks = setup.n_row_blocks, n_param_blocks = setup.n_param_blocks
    cdef BlockFunction run_block = (batch_block_double if floating is double
                                    else batch_block_float)
    cdef int n_threads = <int> min(options.n_threads, MAX_TEAM_HELPERS + 1,
                                   max(n_row_blocks, n_param_blocks))
    cdef long long n_phases = 2 * ((order.shape[0] + options.batch_size - 1)
                                   // options.batch_size)
    cdef Team team
    cdef EpochResult result
    with nogil:
        team_start(&team, n_threads, run_block, &work, n_phases)
        result = run_epoch(&team, &work, sample_weight, order.shape[0], n_params,
                           n_param_blocks)
        team_stop(&team)
    return result


# --- many epochs in one call ------------------------------------------------------------

cdef inline uint64_t random_interval(bitgen_t* bitgen, uint64_t max_value) noexcept nogil:
    """A uniform integer in [0, max_value], drawn as NumPy's legacy RandomState does (the
    smallest bit mask covering max_value, rejecting draws above it)."""
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


cdef void permute(bitgen_t* bitgen, Py_ssize_t* order, Py_ssize_t* permutation,
                  Py_ssize_t* scratch, Py_ssize_t n) noexcept nogil:
    """order = order[RandomState.permutation(n)], the same draws as the estimator's shuffle:
    a permutation of 0...n-1 by NumPy's legacy Fisher-Yates, then applied to order."""
    cdef Py_ssize_t i, j, swap
    for i in range(n):
        permutation[i] = i
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t> random_interval(bitgen, <uint64_t> i)
        swap = permutation[i]
        permutation[i] = permutation[j]
        permutation[j] = swap
    for i in range(n):
        scratch[i] = order[permutation[i]]
    memcpy(order, scratch, n * sizeof(Py_ssize_t))


cdef bitgen_t* bit_generator_of(object bit_generator) except NULL:
    return <bitgen_t*> PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")


def permutation_py(object bit_generator, Py_ssize_t n):
    """RandomState.permutation(n) drawn from ``bit_generator`` by the kernel (for tests)."""
    cdef bitgen_t* bitgen = bit_generator_of(bit_generator)
    cdef Py_ssize_t[::1] order = np.arange(n, dtype=np.intp)
    cdef Py_ssize_t[::1] permutation = np.empty(max(n, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] scratch = np.empty(max(n, 1), dtype=np.intp)
    with bit_generator.lock:
        permute(bitgen, &order[0], &permutation[0], &scratch[0], n)
    return np.asarray(order)


cdef int end_of_epoch(RunOptions* run, EpochOptions* options, double loss,
                      Py_ssize_t n_rows) noexcept nogil:
    """The training-loss stopping rule and SGD's schedule after an epoch of mean loss
    `loss`; returns COMPLETED or CONVERGED. The same rules, in the same order, as
    EpochLoop._end_epoch with SGD.iteration_ends and SGD.trigger_stopping."""
    run.samples_seen += n_rows
    if loss > run.best_loss - run.tol:
        run.no_improvement_count += 1
    else:
        run.no_improvement_count = 0
    if loss < run.best_loss:
        run.best_loss = loss
    if options.solver == Solver.SGD and run.schedule == Schedule.INVSCALING:
        options.learning_rate = (run.learning_rate_init
                                 / pow(<double> (run.samples_seen + 1), run.power_t))
    if run.no_improvement_count > run.n_iter_no_change:
        if options.solver != Solver.SGD or run.schedule != Schedule.ADAPTIVE:
            return EpochStatus.CONVERGED
        if options.learning_rate <= 1e-6:
            return EpochStatus.CONVERGED
        options.learning_rate /= 5.0
        run.no_improvement_count = 0
    return EpochStatus.COMPLETED


def train_epochs(const Py_ssize_t[:, ::1] layer_table, bint sparse,
                 const floating[:, ::1] X, const floating[::1] X_data,
                 const int[::1] X_indices, const int[::1] X_indptr,
                 const floating[:, ::1] Y, const floating[::1] sample_weight,
                 Py_ssize_t[::1] order, floating[::1] params, floating[::1] grads,
                 floating[::1] moment_1, floating[::1] moment_2, floating[::1] workspace,
                 EpochOptions options, RunOptions run, object bit_generator,
                 double[::1] losses, floating[::1] saved, const double[::1] dropout=None):
    """Train up to run['n_epochs'] epochs in one call, as as many train_epoch calls would.

    Each epoch shuffles `order` in place (when run['shuffle']) with the draws
    RandomState.permutation would take from `bit_generator`, trains over it, writes its
    mean loss into `losses`, and applies the training-loss stopping rule and SGD's
    schedule. `saved` (3 * n_params) keeps each epoch's starting parameters and moments:
    an epoch that diverges or is interrupted is undone, so that the state is the end of
    the last complete epoch. Returns a dict: n_epochs done, status (COMPLETED when all
    ran, CONVERGED, NON_FINITE or INTERRUPTED), and the stopping rule's and schedule's
    state (best_loss, no_improvement_count, samples_seen, learning_rate, adam_steps).
    """
    check_epoch_arguments(layer_table, sparse, X, X_indptr, Y, sample_weight, order, params,
                          grads, moment_1, moment_2, &options)
    cdef Py_ssize_t n_params = params.shape[0], n_rows = order.shape[0], epoch, done = 0
    if losses.shape[0] < run.n_epochs or saved.shape[0] < 3 * n_params:
        raise ValueError("losses must hold n_epochs values and saved 3 * n_params")
    cdef EpochSetup setup = EpochSetup(layer_table, n_params, sparse, workspace.shape[0],
                                       dropout, options)
    cdef BatchWork work
    fill_batch_work(&work, setup, &options, sparse, X, X_data, X_indices, X_indptr, Y,
                    sample_weight, &order[0], params, grads, moment_1, moment_2, workspace)
    cdef Py_ssize_t n_row_blocks = setup.n_row_blocks, n_param_blocks = setup.n_param_blocks
    cdef Py_ssize_t[::1] permutation = np.empty(n_rows, dtype=np.intp)
    cdef Py_ssize_t[::1] scratch = np.empty(n_rows, dtype=np.intp)
    cdef bitgen_t* bitgen = bit_generator_of(bit_generator)
    cdef BlockFunction run_block = (batch_block_double if floating is double
                                    else batch_block_float)
    cdef int n_threads = <int> min(options.n_threads, MAX_TEAM_HELPERS + 1,
                                   max(n_row_blocks, n_param_blocks))
    cdef long long n_phases = 2 * run.n_epochs * ((n_rows + options.batch_size - 1)
                                                  // options.batch_size)
    cdef long long first_epoch = options.epoch
    cdef Team team
    cdef EpochResult result
    cdef int status = EpochStatus.COMPLETED
    cdef Py_ssize_t m2 = moment_2.shape[0]
    with bit_generator.lock:
        with nogil:
            team_start(&team, n_threads, run_block, &work, n_phases)
            for epoch in range(run.n_epochs):
                if run.shuffle:
                    permute(bitgen, &order[0], &permutation[0], &scratch[0], n_rows)
                memcpy(&saved[0], &params[0], n_params * sizeof(floating))
                memcpy(&saved[n_params], &moment_1[0], n_params * sizeof(floating))
                if m2 > 0:
                    memcpy(&saved[2 * n_params], &moment_2[0], m2 * sizeof(floating))
                options.epoch = first_epoch + epoch
                work.buffers.epoch = options.epoch
                work.order = &order[0]
                result = run_epoch(&team, &work, sample_weight, n_rows, n_params, n_param_blocks)
                if result.status != EpochStatus.COMPLETED:
                    # Undo the epoch: back to the end of the last complete one.
                    memcpy(&params[0], &saved[0], n_params * sizeof(floating))
                    memcpy(&moment_1[0], &saved[n_params], n_params * sizeof(floating))
                    if m2 > 0:
                        memcpy(&moment_2[0], &saved[2 * n_params], m2 * sizeof(floating))
                    status = result.status
                    break
                options.adam_steps = result.adam_steps
                losses[epoch] = result.loss_sum / n_rows
                done = epoch + 1
                status = end_of_epoch(&run, &options, losses[epoch], n_rows)
                if status != EpochStatus.COMPLETED:
                    break
            team_stop(&team)
    return {"n_epochs": done, "status": status, "best_loss": run.best_loss,
            "no_improvement_count": run.no_improvement_count,
            "samples_seen": run.samples_seen, "learning_rate": options.learning_rate,
            "adam_steps": options.adam_steps}
