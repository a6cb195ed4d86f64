"""The self-contained HTML report of a run folder (`report.html`): `page.write_html_report`."""
