"""Reading users' files: formats, encodings, CRS checks, validation and the repair report; the manifest."""
