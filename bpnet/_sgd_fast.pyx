# One epoch of minibatch training (gather, forward, loss, backward, update) in one nogil call.
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt
from libc.stdlib cimport free
from libc.string cimport memcpy

from ._blas cimport dot
from ._kernels cimport (Layer, RowBlock, forward_backward, layers_from_table, make_block,
                        max_width, n_input_rows, signal_pending, total_width)


cpdef enum Solver:
    SGD = 0
    ADAM = 1


cpdef enum EpochStatus:
    COMPLETED = 0
    NON_FINITE = 1    # a batch loss or a parameter became NaN or infinite
    INTERRUPTED = 2   # a signal handler raised (Ctrl-C); the exception was cleared


SOLVER_CODES = {"sgd": Solver.SGD, "adam": Solver.ADAM}


# Everything about one epoch that is not an array. Python passes a dict with these keys.
# New training options (gradient clipping, dropout rates, ...) become new fields here.
cdef struct EpochOptions:
    int solver
    int loss
    double alpha
    double learning_rate    # SGD's current rate, or Adam's initial rate
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon
    Py_ssize_t batch_size
    Py_ssize_t n_coefs      # coefficients come first in params, intercepts after
    long long adam_steps    # Adam's time step before this epoch


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
    Py_ssize_t delta_a
    Py_ssize_t delta_b
    Py_ssize_t size


# Work, in floating-point operations, between two checks for a pending signal: a few
# milliseconds of training, so Ctrl-C is noticed quickly without taking the GIL often.
cdef enum:
    SIGNAL_CHECK_FLOPS = 20000000


cdef WorkspaceLayout plan_workspace(const Layer* layers, Py_ssize_t n_layers,
                                    Py_ssize_t batch_size, bint sparse) noexcept nogil:
    cdef WorkspaceLayout plan
    cdef Py_ssize_t n_outputs = layers[n_layers - 1].fan_out
    plan.x_batch = 0
    plan.y_batch = 0 if sparse else batch_size * layers[0].fan_in
    plan.sw_batch = plan.y_batch + batch_size * n_outputs
    plan.acts = plan.sw_batch + batch_size
    plan.delta_a = plan.acts + batch_size * total_width(layers, n_layers)
    plan.delta_b = plan.delta_a + batch_size * max_width(layers, n_layers)
    plan.size = plan.delta_b + batch_size * max_width(layers, n_layers)
    return plan


def workspace_size(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t batch_size, bint sparse):
    """Length of the workspace array that train_epoch needs for this network and batch."""
    cdef Layer* layers = layers_from_table(layer_table, -1)
    cdef WorkspaceLayout plan = plan_workspace(layers, layer_table.shape[0], batch_size, sparse)
    free(layers)
    return plan.size


# The update loops carry no reduction, so the compiler can vectorise them; the squared
# norms the caller needs come from BLAS dot products afterwards.

cdef void sgd_update(floating* params, const floating* grads, floating* velocity,
                     Py_ssize_t start, Py_ssize_t stop, floating alpha,
                     floating inverse_weight_sum, const EpochOptions* options) noexcept nogil:
    """Momentum or Nesterov step on params[start:stop]."""
    cdef floating lr = options.learning_rate, momentum = options.momentum
    cdef floating grad, step
    cdef Py_ssize_t i
    if options.nesterov:
        for i in range(start, stop):
            grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
            step = momentum * velocity[i] - lr * grad
            velocity[i] = step
            params[i] += momentum * step - lr * grad
    else:
        for i in range(start, stop):
            grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
            step = momentum * velocity[i] - lr * grad
            velocity[i] = step
            params[i] += step


cdef void adam_update(floating* params, const floating* grads, floating* first_moment,
                      floating* second_moment, Py_ssize_t start, Py_ssize_t stop,
                      floating alpha, floating inverse_weight_sum, floating step_size,
                      const EpochOptions* options) noexcept nogil:
    """Adam step on params[start:stop]."""
    cdef floating beta_1 = options.beta_1, beta_2 = options.beta_2
    cdef floating epsilon = options.epsilon
    cdef floating grad, m, v
    cdef Py_ssize_t i
    for i in range(start, stop):
        grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
        m = beta_1 * first_moment[i] + (1 - beta_1) * grad
        v = beta_2 * second_moment[i] + (1 - beta_2) * (grad * grad)
        first_moment[i] = m
        second_moment[i] = v
        params[i] += -step_size * m / (sqrt(v) + epsilon)


cdef EpochResult run_epoch(const Layer* layers, Py_ssize_t n_layers,
                           const floating[:, ::1] X, const floating[::1] X_data,
                           const int[::1] X_indices, const int[::1] X_indptr,
                           const floating[:, ::1] Y, const floating[::1] sample_weight,
                           const Py_ssize_t[::1] order, floating* params, floating* grads,
                           floating* moment_1, floating* moment_2, floating* workspace,
                           Py_ssize_t n_params, const EpochOptions* options) noexcept nogil:
    cdef bint sparse = X.shape[0] == 0
    cdef bint weighted = sample_weight.shape[0] > 0
    cdef Py_ssize_t n_rows = order.shape[0], n_features = layers[0].fan_in
    cdef Py_ssize_t n_outputs = layers[n_layers - 1].fan_out
    cdef Py_ssize_t batch_size = options.batch_size, n_coefs = options.n_coefs
    cdef WorkspaceLayout plan = plan_workspace(layers, n_layers, batch_size, sparse)
    cdef floating* x_batch = workspace + plan.x_batch
    cdef floating* y_batch = workspace + plan.y_batch
    cdef floating* sw_batch = workspace + plan.sw_batch
    cdef Py_ssize_t start, stop, n_batch, r, row
    cdef double weight_sum, data_loss, batch_loss, step_size
    cdef floating inverse_weight_sum
    cdef double coef_sq_norm, intercept_sq_norm, work_since_check = 0.0
    cdef double work_per_row = 6.0 * n_params
    cdef RowBlock block
    cdef EpochResult result
    result.loss_sum = 0.0
    result.adam_steps = options.adam_steps
    result.status = EpochStatus.COMPLETED
    result.n_batches = 0

    # The L2 term of each batch's loss uses the coefficients before its update; their
    # squared norm is taken once here and then after each update, for the next batch.
    coef_sq_norm = dot(<int> n_coefs, params, params)
    block = make_block(X, X_data, X_indices, X_indptr, 0, 0)
    start = 0
    while start < n_rows:
        stop = min(start + batch_size, n_rows)
        n_batch = stop - start
        # Gather the batch's rows into the preallocated buffers; CSR rows are read in place.
        block.n_rows = n_batch
        if sparse:
            block.rows = &order[start]
        else:
            for r in range(n_batch):
                memcpy(x_batch + r * n_features, &X[order[start + r], 0],
                       n_features * sizeof(floating))
            block.dense = x_batch
        weight_sum = 0.0
        for r in range(n_batch):
            row = order[start + r]
            memcpy(y_batch + r * n_outputs, &Y[row, 0], n_outputs * sizeof(floating))
            if weighted:
                sw_batch[r] = sample_weight[row]
                weight_sum += sw_batch[r]
        if not weighted:
            weight_sum = n_batch
        start = stop

        if weight_sum <= 0:
            # A batch whose weights are all zero carries no information: skip it rather
            # than divide by zero.
            continue
        data_loss = forward_backward(
            layers, n_layers, options.loss, params, block, y_batch,
            sw_batch if weighted else NULL, workspace + plan.acts,
            workspace + plan.delta_a, workspace + plan.delta_b, grads, False)
        batch_loss = (data_loss + 0.5 * options.alpha * coef_sq_norm) / weight_sum
        if not isfinite(batch_loss):
            result.status = EpochStatus.NON_FINITE
            break
        result.loss_sum += batch_loss * n_batch

        inverse_weight_sum = 1.0 / weight_sum
        if options.solver == Solver.SGD:
            sgd_update(params, grads, moment_1, 0, n_coefs, <floating> options.alpha,
                       inverse_weight_sum, options)
            sgd_update(params, grads, moment_1, n_coefs, n_params, 0, inverse_weight_sum,
                       options)
        else:
            result.adam_steps += 1
            step_size = (options.learning_rate
                         * sqrt(1 - pow(options.beta_2, <double> result.adam_steps))
                         / (1 - pow(options.beta_1, <double> result.adam_steps)))
            adam_update(params, grads, moment_1, moment_2, 0, n_coefs,
                        <floating> options.alpha, inverse_weight_sum, <floating> step_size,
                        options)
            adam_update(params, grads, moment_1, moment_2, n_coefs, n_params, 0,
                        inverse_weight_sum, <floating> step_size, options)
        coef_sq_norm = dot(<int> n_coefs, params, params)
        intercept_sq_norm = dot(<int> (n_params - n_coefs), params + n_coefs, params + n_coefs)
        result.n_batches += 1
        # The squared norms are NaN or infinite as soon as any parameter is: divergence is
        # caught at the update that causes it, by the norm the loss needs anyway.
        if not (isfinite(coef_sq_norm) and isfinite(intercept_sq_norm)):
            result.status = EpochStatus.NON_FINITE
            break

        work_since_check += work_per_row * n_batch
        if work_since_check >= SIGNAL_CHECK_FLOPS:
            work_since_check = 0.0
            if signal_pending():
                result.status = EpochStatus.INTERRUPTED
                break
    return result


def train_epoch(const Py_ssize_t[:, ::1] layer_table,
                const floating[:, ::1] X, const floating[::1] X_data,
                const int[::1] X_indices, const int[::1] X_indptr,
                const floating[:, ::1] Y, const floating[::1] sample_weight,
                const Py_ssize_t[::1] order, floating[::1] params, floating[::1] grads,
                floating[::1] moment_1, floating[::1] moment_2, floating[::1] workspace,
                EpochOptions options):
    """Train one epoch over the rows `order`, in batches of options['batch_size'].

    X is dense, or, when it has zero rows, the input is the CSR matrix given by
    (X_data, X_indices, X_indptr). An empty `sample_weight` means unit weights.
    `params` is updated in place, as are the optimizer's `moment_1` (SGD's velocity or
    Adam's first moment) and `moment_2` (Adam's second moment; unused by SGD).
    `grads` and `workspace` are scratch space (see workspace_size). Returns a dict with
    loss_sum, adam_steps, status (an EpochStatus) and n_batches.

    A pending signal (Ctrl-C) stops the epoch with status INTERRUPTED and clears the
    exception, leaving the caller to decide what an interruption means.
    """
    cdef Py_ssize_t n_layers = layer_table.shape[0], n_params = params.shape[0]
    cdef Py_ssize_t n_rows_in = n_input_rows(X, X_indptr)
    cdef Py_ssize_t i
    if order.shape[0] == 0:
        raise ValueError("order must name at least one row")
    if options.batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if options.solver not in (Solver.SGD, Solver.ADAM):
        raise ValueError(f"unknown solver code {options.solver}")
    if grads.shape[0] != n_params or moment_1.shape[0] != n_params:
        raise ValueError("grads and moment_1 must have the same length as params")
    if options.solver == Solver.ADAM and moment_2.shape[0] != n_params:
        raise ValueError("Adam needs moment_2 with the same length as params")
    if not 0 <= options.n_coefs <= n_params:
        raise ValueError("n_coefs must lie within params")
    if Y.shape[0] != n_rows_in or Y.shape[1] != layer_table[n_layers - 1, 1]:
        raise ValueError("Y must have one row per input row and one column per output")
    if sample_weight.shape[0] not in (0, n_rows_in):
        raise ValueError("sample_weight must be empty or have one weight per row")
    if X.shape[0] > 0 and X.shape[1] != layer_table[0, 0]:
        raise ValueError("X must have one column per input of the first layer")
    for i in range(order.shape[0]):
        if not 0 <= order[i] < n_rows_in:
            raise IndexError(f"order[{i}] = {order[i]} is not a row of X")
    cdef Layer* layers = layers_from_table(layer_table, n_params)
    cdef WorkspaceLayout plan = plan_workspace(layers, n_layers, options.batch_size,
                                               X.shape[0] == 0)
    cdef EpochResult result
    if workspace.shape[0] < plan.size:
        free(layers)
        raise ValueError(f"workspace must hold at least {plan.size} elements")
    try:
        with nogil:
            result = run_epoch(layers, n_layers, X, X_data, X_indices, X_indptr, Y,
                               sample_weight, order, &params[0], &grads[0], &moment_1[0],
                               &moment_2[0] if moment_2.shape[0] > 0 else NULL,
                               &workspace[0], n_params, &options)
    finally:
        free(layers)
    return result
