"""The ``ktr`` command's entry point: quiets the backend's start-up logs
before anything imports Keras, then runs :func:`keras_tensor_rnn.cli.main`.

Outside the package on purpose: importing ``keras_tensor_rnn`` imports
Keras, which starts TensorFlow, whose native libraries write their start-up
lines (oneDNN, the CUDA probe, CPU features) straight to the stderr file
descriptor as they load; only code that runs before that import can keep
them out. ``-v`` / ``--verbose`` keeps them.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Silence what native libraries write straight to the stderr file
    descriptor (TensorFlow's absl lines before its logging is set up, the
    CUDA probe on a machine without a GPU): Python's own errors still show
    once the block ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    loud = "-v" in argv or "--verbose" in argv
    if not loud:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.nullcontext() if loud else native_stderr_silenced():
        from keras_tensor_rnn.cli import main as run
    return run(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
