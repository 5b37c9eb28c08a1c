"""``python -m shipflow.cli``: the ``shipflow`` command, for processes started from Python."""

from shipflow.cli import main

main()
