"""Where things live on disk: job folders and their layout, cached folders."""
