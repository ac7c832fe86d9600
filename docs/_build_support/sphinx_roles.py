"""A griffe extension for our docstrings, which are written for ``help()``
and doctest: Sphinx roles (``:func:`run```) become inline code, doctest
lines (``>>> ...`` and their output) become code blocks (Markdown would
print the one as it is and run the other into a paragraph), and a
docstring completed at import time (a ``{placeholder}`` line) is read
from the imported object.

Written by hand: mkdocstrings-python reads Google-style sections but leaves
reStructuredText roles to Sphinx, which this site does not use."""

import importlib
import inspect
import re

import griffe

PLACEHOLDER = re.compile(r"^\s*\{\w+\}\s*$", re.M)
ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):`~?([^`]+)`")
DOCTEST = re.compile(r"^([ \t]*)>>> .*(?:\n\1(?:>>>|\.\.\.|\S).*)*", re.M)


def markdown_docstring(text: str) -> str:
    """``text`` with roles as inline code and doctest runs fenced."""
    text = ROLE.sub(r"`\1`", text)
    return DOCTEST.sub(lambda m: f"{m.group(1)}```pycon\n{m.group(0)}\n{m.group(1)}```", text)


def runtime_docstring(obj) -> str | None:
    """The docstring ``obj`` has once its module ran: some are completed at
    import (``TensorizedLSTM.__doc__.format(tensorized=...)``: the argument
    docs the layers share, written once)."""
    value = importlib.import_module(obj.module.path)
    for name in obj.path[len(obj.module.path) + 1:].split("."):
        value = getattr(value, name)
    return inspect.getdoc(value)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is None:
            return
        if not obj.is_module and PLACEHOLDER.search(obj.docstring.value):
            obj.docstring.value = runtime_docstring(obj)
        obj.docstring.value = markdown_docstring(obj.docstring.value)
