"""Console behaviour shared by the command-line tools."""

from __future__ import annotations

import sys
import warnings


def set_threads(threads: int) -> bool:
    """Set torch's thread count from a `--threads` option; print an error and return False when it is below 1."""
    import torch

    if threads < 1:
        print(f"error: invalid --threads {threads}: use 1 or more", file=sys.stderr)
        return False
    torch.set_num_threads(threads)
    return True


def show_warnings_plainly() -> None:
    """Print library warnings as `warning: MESSAGE` lines on stderr, without Python's source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
