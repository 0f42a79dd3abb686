"""
Jobs larger than one batch: a request stream split into parts within the provider's limits, submitted in
waves, waited on together, exported as one.

- :mod:`.ids`: custom_id digests in sorted runs on local disk: duplicates found, and the export checked,
  in flat memory whatever the job's size.
- :mod:`.source`: the requests where they are (inline, or JSONL files on any object storage), read as
  lines; a part's lines read again or written out for upload.
- :mod:`.plan`: the plan: which requests each part holds.
- :mod:`.split`: making the plan: the requests split into parts within the provider's limits.
- :mod:`.state`: a job's state between its tries and deferrals: the plan, each part's batch, progress.
- :mod:`.submit`: creating one part's batch (never twice), and finding an earlier try's parts.
- :mod:`.export`: every part's results into one export and one manifest.
"""
