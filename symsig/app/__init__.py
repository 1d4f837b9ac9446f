"""What users run: the command line, the report, the LaTeX export, plots and the paper checks."""
