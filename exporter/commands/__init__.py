"""The commands a user runs, each the pipeline in order."""
