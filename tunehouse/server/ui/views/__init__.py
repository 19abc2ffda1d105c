"""One module per page of the web UI, each exposing ``router``."""
