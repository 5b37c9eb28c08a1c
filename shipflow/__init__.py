"""shipflow: release engineering as Prefect flows.

The ``shipflow`` package is the library (no Prefect inside): ``core`` holds pure decisions,
``adapters`` talk to outside systems, ``generators`` write files. Prefect lives in the
``tasks``, ``flows`` and ``deployments`` packages that sit on top of it.
"""

__version__ = "0.1.0"
