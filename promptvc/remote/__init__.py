"""Remote primaries: Hrana HTTP client, sqld server control, push/pull."""
