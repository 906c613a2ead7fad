"""BLAS thread limits shared by every part of the package that runs matrix
products in parallel threads, or that gains nothing from BLAS threads."""

import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_blas_controller = None


@contextmanager
def one_blas_thread():
    """Limit BLAS to one thread while any query in this process runs in parallel
    (or a factorisation of thin matrices runs: threads gain nothing there, and
    lost up to 10x when another process kept the cores busy).

    The chunks' small matrix products must not each start a BLAS thread pool on
    top of ours: oversubscribed, two threads ran slower than one. The limit is
    counted, so concurrent calls restore the original limits only when the last
    one ends. Only queries from the main thread change the limits: OpenBLAS can
    ignore a raise of its thread count made from another thread while threads
    query at once (four threads querying: the process was left at one thread),
    so queries from other threads run under the limits they find.
    """
    global _blas_users, _blas_limiter, _blas_controller
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            if _blas_controller is None:  # finding the loaded libraries takes milliseconds
                _blas_controller = ThreadpoolController()
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
