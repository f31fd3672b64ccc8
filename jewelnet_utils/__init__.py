"""JewelNet: shared code behind the notebook series and the book.

Notebooks call into these modules; every model, metric and plot lives here once.
"""

__version__ = "0.1.0"
