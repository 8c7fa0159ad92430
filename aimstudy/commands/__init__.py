"""Subcommands of the `aimstudy` CLI; each module exposes `register(subparsers, summary)`."""
