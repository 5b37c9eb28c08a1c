"""Generators: a spec in, files out (``dict[Path, str]``), written atomically by the caller."""
