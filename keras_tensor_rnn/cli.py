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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    search = commands.add_parser(
        "search", help="run a budgeted rank search from a TOML spec, tracked in MLflow",
        description="Run the budgeted search a spec describes (see search/*.toml); every "
                    "trial is logged to MLflow and the Pareto front is printed.")
    search.add_argument("spec", help="path of the search spec (TOML)")
    search.add_argument("--max-trials", type=int, help="override [search] max_trials")
    search.add_argument("--epochs", type=int, help="override [search] epochs")
    search.add_argument("--tracking-uri", help="override the MLflow tracking URI")
    search.set_defaults(handler=_search)
    return parser


def _search(args) -> int:
    from keras_tensor_rnn.search import run

    try:
        run(args.spec, max_trials=args.max_trials, epochs=args.epochs,
            tracking_uri=args.tracking_uri)
    except ValueError as error:
        print(f"ktr search: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
