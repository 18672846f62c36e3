"""``python -m benchmarks`` is the same as the ``mnist-bench`` console script."""

from benchmarks.cli import main

raise SystemExit(main())
