"""Every byte a user reads: ``console`` (lines, colours, escaping, errors and warnings), then one module per
command's output (``plan``, ``apply``, ``verify``, ``inspect``, ``spec`` for validate and schema)."""
