"""Panel dashboards over ``workbench.analysis``: the live run view, the comparison view with its
log explorer, and the Bokeh figures they share with the static report and the notebooks."""
