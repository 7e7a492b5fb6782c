"""The extension sphinx-mathjax-offline (MathJax shipped with the book), declared safe
for parallel builds: it only sets the MathJax path and copies files when the build
has finished. It declares nothing itself, so Sphinx would read the chapters one at a
time; this lets `sphinx-build -j auto` execute them on every core.
"""
import importlib


def setup(app):
    importlib.import_module('sphinx-mathjax-offline').setup(app)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True}
