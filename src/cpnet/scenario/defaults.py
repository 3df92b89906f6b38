"""The scenario used when none is named (a module of its own so the CLI can show it without loading the schemas)."""

DEFAULT_SCENARIO = "east-data-west-compute"
