"""The ``landplan`` command: the composition root, the only part of landplan that imports maps and api (lazily)."""
