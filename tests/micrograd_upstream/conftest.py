"""The notebooks here are fixtures executed by tests/engine/test_micrograd_dropin.py (against the
drop-in and against micrograd 0.1.0 side by side), not teaching notebooks: keep `--nbmake`
from collecting them (trace_graph's `dot.render('gout')` would write into this directory)."""

collect_ignore_glob = ["*.ipynb"]
