"""Stand-in of modules/paths.py: the WebUI's data directory (params.txt, outputs/ by default)."""

data_path = "."
