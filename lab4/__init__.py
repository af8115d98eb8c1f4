"""lab4: the computations of the tensor-differentiation lab (no UI).

Tasks live in :mod:`lab4.tasks`; each declares a parameter spec and a run generator.
Importing ``lab4`` is cheap: it imports neither torch, textual nor click.
"""

__version__ = "0.1.0"
