"""The ``ktr`` command line."""

from __future__ import annotations

import argparse
import sys

from keras_tensor_rnn._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ktr",
        description="keras-tensor-rnn: tensorized and restricted RNN layers for Keras 3.",
    )
    parser.add_argument("--version", action="version", version=f"keras-tensor-rnn {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0  # pragma: no cover  (subcommands register their own handlers)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
