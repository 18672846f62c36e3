"""The grid: its config (TOML + flags), the runner that fills results.csv, feature extraction
through the cache (chains included), the resume journal, the run environment and the timings."""
