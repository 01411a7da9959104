"""Pictures in and out: the one loader, folder scans, batches for a model, resizing to a
model's size, grids, contact sheets and quality metrics."""
