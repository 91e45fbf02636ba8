"""What people read: an export's archive and its page, and the tables the CLI prints.

The core hands over data (a `SubjectExport`, erasure requests); this package
turns it into a zip archive, `index.html` and terminal output. It may import
the core's data types; the core never imports it.
"""
