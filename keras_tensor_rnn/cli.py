"""The ``ktr`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from keras_tensor_rnn._version import __version__
from keras_tensor_rnn_cli import native_stderr_silenced


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ktr",
        description="keras-tensor-rnn: tensorized and restricted RNN layers for Keras 3.",
    )
    parser.add_argument("--version", action="version", version=f"keras-tensor-rnn {__version__}")
    _add_loudness(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_search(commands)
    _add_compress(commands)
    data = commands.add_parser(
        "data", help="fetch the offline text corpus the examples use",
        description="`ktr data fetch` downloads the 'vader' sentence corpus (the vaderSentiment "
                    "3.3.2 source distribution, 2.5 MB) from PyPI once; examples then read it "
                    "offline (see keras_tensor_rnn.corpora).")
    data.add_argument("action", choices=["fetch"])
    data.add_argument("--directory", help="target folder (default: $KTR_DATA or "
                                          "~/.keras/datasets/keras_tensor_rnn)")
    data.set_defaults(handler=_data)
    return parser


def _add_search(commands) -> None:
    """``ktr search``."""
    search = commands.add_parser(
        "search", help="run a budgeted rank search from a TOML spec, tracked in MLflow",
        description="Run the budgeted search a spec describes (a TOML path, or the name of a shipped spec: quickstart, mnist_rows, imdb_reviews, speech_commands); every "
                    "trial is logged to MLflow and the Pareto front is printed.")
    _add_loudness(search)
    search.add_argument("spec", help="path of the search spec (TOML)")
    search.add_argument("--max-trials", type=int, help="override [search] max_trials")
    search.add_argument("--epochs", type=int, help="override [search] epochs")
    search.add_argument("--tracking-uri", help="override the MLflow tracking URI")
    search.add_argument("--distribution",
                        help="override [search] distribution: default, mirrored, multi_worker, "
                             "tpu or data_parallel")
    # Case-insensitive, as [search] strategy and `strategy=` are.
    search.add_argument("--strategy", type=str.lower, choices=["independent", "nested"],
                        help="override [search] strategy: train every trial at its ranks "
                             "(independent), or each once at its largest ranks, sized from the "
                             "budget down, and score every lower rank from it (nested)")
    search.add_argument("--finetune-epochs", type=int, metavar="N",
                        help="override [search] finetune_epochs (nested: epochs of fine-tuning "
                             "for the front's lower ranks)")
    search.add_argument("--overwrite", action="store_true",
                        help="start over instead of resuming the project's earlier search")
    role = search.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve keras-tuner's oracle to workers; owns the MLflow parent run")
    role.add_argument("--worker", action="store_true",
                      help="train the trials a chief hands out")
    search.add_argument("--oracle-address", metavar="HOST:PORT",
                        help="the chief's address (default: KERASTUNER_ORACLE_IP/PORT, "
                             "else 127.0.0.1:8000)")
    search.add_argument("--tuner-id", help="this worker's name (default worker-<pid>)")
    search.set_defaults(handler=_search)


def _add_compress(commands) -> None:
    """``ktr compress``: the conversion's arguments, then the files to ship."""
    compress = commands.add_parser(
        "compress", help="replace a saved model's LSTM/GRU/SimpleRNN layers by tensorized ones",
        description="Compress the recurrent layers of a .keras model: fit the factors to the "
                    "trained weights and, given sample inputs (--x), to each layer's outputs on "
                    "them; print the per-layer report and save the result.")
    _add_loudness(compress)
    compress.add_argument("model", help="input model (.keras)")
    compress.add_argument("-o", "--output", required=True, help="output model (.keras)")
    compress.add_argument("--decomposition", default=None,
                          help="tt, mps, tr, cp, tucker, bt, lowrank, dense or restricted; "
                               "dense+cp: a dense input kernel, a cp recurrent one; "
                               "auto: every decomposition with a rank tried at --budget, the "
                               "one closest to the model on --x kept (needs both); a "
                               "comma-separated list (tt,cp): chosen among those (default: auto "
                               "given --budget and --x, else tt)")
    compress.add_argument("--rank", type=_parse_rank, help="int, comma-separated list, float fraction or 'full'")
    compress.add_argument("--budget", type=_parse_budget,
                          help="instead of --rank: max parameters per layer (an integer, e.g. "
                               "5000) or a fraction of each layer's own (with a point, in "
                               "(0, 1], e.g. 0.05)")
    compress.add_argument("--d", type=int, help="modes per side (default 3)")
    compress.add_argument("--shared", type=float, default=None,
                          help="for --decomposition restricted (default 0.5)")
    compress.add_argument("--layers", help="comma-separated layer names (default: all recurrent)")
    compress.add_argument("--x", metavar="NPY",
                          help="sample inputs of the model (.npy, or .npz holding 'x' or one array), e.g. a "
                               "thousand training sequences: the factors are then fit to what "
                               "the layers do on them (without: the weights alone, which loses "
                               "most of a trained model's accuracy at high compression)")
    compress.add_argument("--fit-steps", type=int, default=None,
                          help="optimizer steps of each stage of the output fit with --x "
                               "(default: 64 passes over --x's sequences, 200 to 2000; 0: "
                               "match the kernels' products only)")
    compress.add_argument("--allocation", choices=["uniform", "sensitivity"], default="uniform",
                          help="sensitivity: --budget is the total of all replaced layers, ranks "
                               "go where they remove the most output error on --x")
    _add_export_options(compress)
    compress.set_defaults(handler=_compress)


def _add_export_options(compress) -> None:
    compress.add_argument("--litert", help="also write a builtins-only LiteRT file here")
    compress.add_argument("--quantize", choices=["dynamic", "float16", "int8", "int16x8"],
                          help="with --litert: LiteRT's post-training quantization (int8, "
                               "int16x8: full integer, calibrated on --x)")
    compress.add_argument("--unroll", action="store_true",
                          help="with --litert: write every time step out instead of one WHILE "
                               "loop (faster for a few steps, larger for many)")
    compress.add_argument("--time-steps", type=int, default=None,
                          help="with --litert, for a model whose input has no fixed time "
                               "length: the number of steps the file runs")
    compress.add_argument("--onnx", help="also write an ONNX file here (needs tf2onnx)")


def _add_loudness(parser):
    """-v / -q, accepted before or after the command (``ktr -q search s.toml``
    or ``ktr search s.toml -q``); SUPPRESS keeps a subcommand from resetting
    what was given before it."""
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="also show TensorFlow's start-up and device logs, and Keras's "
                               "own progress bars")
    loudness.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                          help="less output: a search prints its trial lines and results only "
                               "(no per-epoch progress), compress its report only")


def _parse_decomposition(text):
    return text.split(",") if text is not None and "," in text else text


def _parse_budget(text):
    """As ``compress``'s ``budget``: with a point, a fraction (``1.0``: all
    of each layer); without, a number of parameters."""
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number of parameters (an integer, e.g. 5000) nor a "
            "fraction of each layer's (with a point, in (0, 1], e.g. 0.05)") from None


def _parse_rank(text):
    """As ``compress``'s ``rank``: an int, a comma-separated list of ints
    (one per rank slot), a fraction with a point, or ``full``."""
    if text == "full":
        return text
    try:
        if "," in text:
            return [int(t) for t in text.split(",")]
        return float(text) if "." in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rank: an int (e.g. 4), a comma-separated list of ints, one per "
            "rank slot (e.g. 4,2,2), a fraction of the dense parameters with a point (e.g. "
            "0.1) or 'full'") from None


def _compress(args) -> int:
    import keras_tensor_rnn as ktr
    from keras_tensor_rnn import export

    try:
        _check_export_options(args)
        model = ktr.compression.load_model_file(args.model)
        budget = args.budget
        if args.litert:  # before the work: a file the device cannot take
            export.static_input_shapes(model, time_steps=args.time_steps)
        sample = None if args.x is None else _load_sample(args.x, model)
        compressed, report = ktr.compress(
            model, _parse_decomposition(args.decomposition), rank=args.rank,
            budget=budget, d=args.d,
            shared=args.shared, layers=args.layers.split(",") if args.layers else None,
            x=sample, fit_steps=args.fit_steps, allocation=args.allocation)
    except ValueError as error:
        print(f"ktr compress: error: {_cli_words(str(error))}", file=sys.stderr)
        return 2
    compressed.save(args.output)
    print(report)
    print(f"saved {args.output}: {export.file_size(args.output):,} bytes "
          f"(input {export.file_size(args.model):,} bytes)")
    return _export_files(args, compressed, sample)


def _check_export_options(args) -> None:
    """Export options that cannot work, found before any work is done."""
    from keras_tensor_rnn import export

    litert_only = [f"--{n.replace('_', '-')}" for n in ("quantize", "unroll", "time_steps")
                   if getattr(args, n) not in (None, False)]
    if args.fit_steps and args.x is None:
        raise ValueError("--fit-steps sets the output fit on the sample inputs of --x: add --x "
                         "FILE (.npy or .npz).")
    if litert_only and not args.litert:
        raise ValueError(f"{', '.join(litert_only)} applies to the LiteRT file: add --litert "
                         "PATH.")
    if args.quantize in export.CALIBRATED and args.x is None:
        raise ValueError(f"--quantize {args.quantize} calibrates on sample inputs: pass --x "
                         "(e.g. a few hundred training rows), or use --quantize dynamic.")
    if not str(args.output).endswith(".keras"):
        raise ValueError(f"-o/--output is the compressed model's .keras file (the LiteRT and "
                         f"ONNX files are --litert and --onnx). Received: {args.output}")
    for option, path in (("-o/--output", args.output), ("--litert", args.litert),
                         ("--onnx", args.onnx)):
        folder = None if path is None else os.path.dirname(os.path.abspath(path))
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"{option}: the folder {folder} does not exist.")


def _export_files(args, compressed, sample) -> int:
    """The deployment files ``ktr compress`` was asked for (--litert, --onnx)."""
    from keras_tensor_rnn import export

    try:
        if args.onnx:
            export.export_onnx(compressed, args.onnx)
            print(f"ONNX: {args.onnx}, {export.file_size(args.onnx):,} bytes")
        if args.litert:
            export.export_litert(compressed, args.litert, time_steps=args.time_steps,
                                 unroll=args.unroll, quantize=args.quantize,
                                 representative_data=(sample if args.quantize in export.CALIBRATED
                                                      else None))
            print(f"LiteRT (builtin ops only, {args.quantize or 'float32'}): {args.litert}, "
                  f"{export.file_size(args.litert):,} bytes")
    except (ValueError, NotImplementedError, ImportError) as error:
        print(f"ktr compress: error: {_cli_words(str(error))} ({args.output} is saved.)",
              file=sys.stderr)
        return 2
    return 0


def _cli_words(message: str) -> str:
    """An export error in the CLI's argument names."""
    return message.replace("`time_steps=`", "--time-steps").replace(
        "`builtins_only=False`", "`export.export_litert(..., builtins_only=False)` "
        "from Python").replace("`time_steps`", "--time-steps").replace(
        "`representative_data`", "--x").replace("`representative_data=`", "--x")


def _load_sample(path, model):
    """The array of a .npy file, or of a .npz: its ``x`` (else only) array,
    or for a model of several inputs one array per input, named as the
    model's inputs (in the model's input structure)."""
    import keras
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not read sample inputs from '{path}' (a .npy file, or a .npz "
                         f"holding 'x'): {error}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return loaded
    names, inputs = list(loaded.files), [t.name for t in model.inputs]
    if "x" in names or len(names) == 1:
        return loaded["x" if "x" in names else names[0]]
    if len(inputs) > 1 and set(names) == set(inputs):
        flat = keras.tree.flatten(model.input)
        return keras.tree.pack_sequence_as(model.input, [loaded[t.name] for t in flat])
    raise ValueError(f"'{path}' holds arrays {names}: name the sample inputs 'x', or, for a "
                     f"model of several inputs, one array per input named as the inputs "
                     f"({inputs}).")


def _search(args) -> int:
    from keras_tuner.errors import FatalError

    from keras_tensor_rnn.search import run

    try:
        run(args.spec, max_trials=args.max_trials, epochs=args.epochs,
            tracking_uri=args.tracking_uri, distribution=args.distribution,
            overwrite=True if args.overwrite else None,
            role="chief" if args.chief else "worker" if args.worker else None,
            oracle_address=args.oracle_address, tuner_id=args.tuner_id,
            progress=not args.quiet, keras_verbose=1 if args.verbose else None,
            strategy=args.strategy, finetune_epochs=args.finetune_epochs)
    except (ValueError, TypeError) as error:
        print(f"ktr search: error: {error}", file=sys.stderr)
        return 2
    except (RuntimeError, FatalError) as error:  # every trial failed; the store unreachable
        print(f"ktr search: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ktr search: interrupted. Run the same command again to resume: finished trials "
              "are kept, the interrupted one runs again.", file=sys.stderr)
        return 130
    return 0


def _data(args) -> int:
    from keras_tensor_rnn import corpora

    return corpora.main(["--directory", args.directory] if args.directory else [])


def _quiet_backend():
    """Start the backend without its start-up logs (``-v`` keeps them)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # MLflow's store creation and new-experiment lines (it sets its level on import).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    with native_stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.constant(0.0) + 1.0  # the first op loads the device plugins (and their logs)
            tf.get_logger().setLevel("ERROR")
        else:
            keras.ops.add(0.0, 1.0)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.verbose = getattr(args, "verbose", False)
    args.quiet = getattr(args, "quiet", False)
    if args.verbose and args.quiet:
        parser.error("-v and -q are mutually exclusive")
    if args.command in ("search", "compress") and not args.verbose:
        _quiet_backend()
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
