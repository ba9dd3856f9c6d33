"""Console behaviour shared by the command-line tools."""

from __future__ import annotations

import sys
import warnings


def show_warnings_plainly() -> None:
    """Print library warnings as `warning: MESSAGE` lines on stderr, without Python's source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
