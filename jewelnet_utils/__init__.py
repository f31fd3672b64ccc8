"""JewelNet: shared code behind the notebook series and the book.

Notebooks call into these modules; every model, metric and plot lives here once.
"""

from .contracts.quiet import silence_tensorflow

__version__ = "0.1.0"

# Before any module here imports Keras (and so TensorFlow): see quiet.py.
silence_tensorflow()
