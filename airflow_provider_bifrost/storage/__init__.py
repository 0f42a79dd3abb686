"""Results in object storage: sharded JSONL files, their manifest, and reading them back."""
