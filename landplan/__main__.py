"""``python -m landplan`` runs the CLI."""

from landplan.cli.main import main

main()
