"""Code generated from schemas/ (``make proto``); never edited by hand."""
