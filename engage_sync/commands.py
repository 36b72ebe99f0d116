"""Further commands (registered on cli.cli)."""
