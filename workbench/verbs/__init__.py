"""CLI verbs: one module each, registered in ``workbench.cli.VERB_MODULES``."""
