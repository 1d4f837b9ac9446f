"""``python -m symsig.numerics.finite_t [kind ...] [--band i ...] [--out FILE] | --join FILE ...``:
build the shipped tables (see :mod:`.tables`)."""
import sys

from .tables import main

main(sys.argv[1:])
