"""The artifact store, run folders, their history and prune, and the inputs of a finished run."""
