"""The stem cache: completed separation jobs, pruned by age and total size."""
