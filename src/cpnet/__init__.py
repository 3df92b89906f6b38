"""cpnet: a computing power network that pools heterogeneous AI accelerators across sites."""

__version__ = "0.1.0"
