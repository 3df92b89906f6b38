"""The live control plane: durable store, auth, reconciler and its wall-clock loop."""
