"""``python -m symsig``: the command line."""
from symsig.app.cli import main

raise SystemExit(main())
