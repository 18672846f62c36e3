"""What a person reads: REPORT.md and its plots, montages, heatmaps and maps (all derived from
results.csv), the comparison of two runs, and feature export."""
