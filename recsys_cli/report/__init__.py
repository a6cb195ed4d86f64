"""Tables (rich, markdown, csv/parquet/json), charts, the HTML page and the tuning section."""
