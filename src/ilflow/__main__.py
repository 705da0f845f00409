"""`python -m ilflow` is the `ilflow` command."""

from ilflow.cli import main

main()
