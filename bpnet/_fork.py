"""Fork safety: a forked child gets fresh copies of what bpnet's threads share.

``fork()`` copies a process with only the thread that called it. Whatever bpnet's other
threads held is then wrong in the child: a lock one of them held stays locked, counters
still count the threads of the parent, and the OpenMP runtime's worker threads are gone
(GNU's runtime would wait for them forever at the next parallel region; portable.h says
more). multiprocessing's and joblib's ``fork`` start methods, and plain ``os.fork``, all
hit this. So, around every fork, this module:

- before it, takes the locks, so that no other thread is halfway through changing what
  they guard when the process is copied, and ends the forking thread's OpenMP workers
  (unless other threads are running kernels and the runtime cannot end one thread's
  workers without theirs: LLVM's, see portable.h);
- after it, in the parent, gives the locks back;
- after it, in the child, replaces each lock with a new one, keeps of the counters only
  what the forking thread itself holds, and runs kernels on one thread if the OpenMP
  workers were not ended.

Each new lock, pool or counter in bpnet's Python code gets its line here.
"""

import os
import threading

from . import _threading
from ._parallel import release_threads

_released_before_fork = True


def _locks():
    """The locks of bpnet's shared thread state, in the order they are taken."""
    return (_threading._reservation_lock, _threading._blas_mode._condition)


def _before_fork():
    global _released_before_fork
    for lock in _locks():
        lock.acquire()
    # With the reservation lock held no kernel call can start; those of other threads
    # that hold threads may be inside a parallel region now.
    others = _threading._threads_in_use > _threading.own_threads()
    _released_before_fork = release_threads(others_running=others)


def _after_fork_in_parent():
    for lock in reversed(_locks()):
        lock.release()


def _reset_blas_mode(mode):
    """Make ``mode`` (a _BlasMode) describe the child's one thread.

    The forking thread is the only one left: the calls of other threads that held or
    waited for a BLAS setting are gone. If the forking thread is itself inside one, its
    setting stays in force until it leaves, as in the parent; otherwise the child
    restores the thread count that the parent's calls had lowered, since none of them
    will return in the child to do it.
    """
    mode._condition = threading.Condition()
    mode._waiting = {"one": 0, "default": 0}
    mode._active = 1 if getattr(mode._local, "depth", 0) else 0
    if mode._active:
        return
    saved, mode._saved_threads = mode._saved_threads, None
    mode._mode = None
    _threading._set_blas_threads([
        (library, n_threads) for library, n_threads in saved or ()
        if n_threads is not None and n_threads != 1
    ])  # fmt: skip


def _after_fork_in_child():
    # The reservations of other threads' kernel calls are gone with those threads; the
    # forking thread's own (if it forked inside a fit, from a callback) stay until its
    # call returns.
    _threading._reservation_lock = threading.Lock()
    _threading._threads_in_use = _threading.own_threads()
    # The child may be given other cores (a new affinity or cgroup): count them again.
    _threading._cores_counted = None
    _reset_blas_mode(_threading._blas_mode)
    if not _released_before_fork:
        _threading.single_threaded_after_fork = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
