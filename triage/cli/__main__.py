"""`python -m triage.cli`: the same app as the `triage` script."""

from triage.cli import app

app()
