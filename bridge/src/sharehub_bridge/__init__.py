"""ShareHub's IG bridge and the extract rules it shares with the platform.

Everything in this package runs without Django: at an agency, `sharehub-bridge` (cli) reads and
checks an extract with the same readers and validation the platform imports from here.
"""

__version__ = "1.0.0"
