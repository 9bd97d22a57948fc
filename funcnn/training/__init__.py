"""Training: optimizers and schedules (pure ``init`` / ``update`` pairs), the training
step and loop built on the core's engine, and atomic checkpoints."""
