"""Datasets: MNIST (checksummed), scikit-learn's digits and the generated scale set, each a
loader registered in the ``mnist_bench.datasets`` entry-point group."""
