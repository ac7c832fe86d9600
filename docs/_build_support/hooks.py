"""MkDocs hooks: the command-line reference is the CLI's own ``--help``
text, asked of its parser at build time, so it cannot drift from the code."""

import contextlib
import io
import os
import re

CLI_HELP = re.compile(r"<!-- cli-help: ?([\w ]*) -->")


def _help(words: str) -> str:
    from keras_tensor_rnn.cli import build_parser

    text = io.StringIO()
    os.environ["COLUMNS"] = "88"  # argparse wraps help at the terminal's width
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        build_parser().parse_args([*words.split(), "--help"])
    return f"```text\n{text.getvalue()}```"


def on_page_markdown(markdown, **kwargs):
    return CLI_HELP.sub(lambda match: _help(match.group(1)), markdown)
