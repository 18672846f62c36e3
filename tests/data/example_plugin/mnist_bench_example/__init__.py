"""Example mnist-bench plug-ins (kept empty: mnist-bench imports each module only when used)."""
