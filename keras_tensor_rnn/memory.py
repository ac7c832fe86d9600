"""Peak memory of a block of work, host and device.

Example:

>>> from keras_tensor_rnn.memory import PeakMemory
>>> with PeakMemory() as memory:                 # doctest: +SKIP
...     model.predict_on_batch(x)
>>> memory.result                                # doctest: +SKIP
{'peak_host_mib': 12.5}
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import threading

import keras


class PeakMemory:
    """Peak memory of what runs inside the block, in MiB above its start.

    A thread samples every millisecond the process's resident set (host) and,
    on a GPU, the bytes the backend's allocator holds (``device``): a sampled
    high-water mark, so a buffer that lives under a millisecond can be
    missed. Written by hand: neither backend resets or reports a per-block
    peak on every device (JAX's allocator peak cannot be reset).
    """

    def __enter__(self):
        # Hand freed memory back to the OS first: memory that earlier work
        # freed but the C allocator kept would be reused unseen.
        gc.collect()
        _malloc_trim()
        self._stop = threading.Event()
        self._base = self._peak = _sample()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.001):
            self._peak = tuple(max(a, b) for a, b in zip(self._peak, _sample()))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = tuple(max(a, b) for a, b in zip(self._peak, _sample()))
        host, device = ((p - b) / 2**20 for p, b in zip(self._peak, self._base))
        self.result = {"peak_host_mib": round(host, 1)}
        if _device_bytes() is not None:
            self.result["peak_device_mib"] = round(device, 1)
        return False


def _malloc_trim():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _sample():
    try:
        with open("/proc/self/statm") as statm:  # Linux: resident pages, second field
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (macOS, Windows): host memory is not measured
        rss = 0
    return rss, _device_bytes() or 0


def _device_bytes():
    """Bytes the allocator of the first GPU holds, or None without a GPU."""
    read = _device_reader()
    return None if read is None else read()


@functools.cache
def _device_reader():
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "gpu" or not device.memory_stats():
            return None
        return lambda: device.memory_stats()["bytes_in_use"]
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return None
    return lambda: tf.config.experimental.get_memory_info("GPU:0")["current"]


__all__ = ["PeakMemory"]
