"""``python -m mnist_bench`` is the same as the ``mnist-bench`` console script."""

from mnist_bench.cli import main

raise SystemExit(main())
