"""The bottom layer: the shared vocabulary, user errors, the plug-in registry, the cache, atomic
file writes and what the process may use. Imports nothing else of mnist_bench."""
