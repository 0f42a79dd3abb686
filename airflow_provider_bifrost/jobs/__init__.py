"""
Jobs larger than one batch: a request stream split into parts within the provider's limits, submitted in
waves, waited on together, exported as one.

- :mod:`.ids`: custom_id digests in sorted runs on local disk: duplicates found, and the export checked,
  in flat memory whatever the job's size.
- :mod:`.plan`: reading the requests (inline, or JSONL files on any object storage) and splitting them
  into parts; materializing one part for submission.
- :mod:`.state`: a job's state between its tries and deferrals: the plan, each part's batch, progress.
- :mod:`.submit`: creating one part's batch (never twice), and finding an earlier try's parts.
- :mod:`.export`: every part's results into one export and one manifest.
"""
