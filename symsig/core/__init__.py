"""The base layer: names, validation, the architecture record, results, progress, statistics.

Nothing here imports SymPy or the rest of symsig, so the command line can parse
its options (and print ``--help``) without loading the symbolic machinery.
"""
