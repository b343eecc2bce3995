"""Every write of the ratings app, one module per family: raters, rounds, labels (labels
and adjudications), references (the reference labels derived from them). Each module's
functions are the only writers of their rows."""
