"""One module per source format; each exposes `read(path, **options) -> SourceTables`."""
