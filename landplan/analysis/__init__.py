"""The vector analysis: constraint overlay, network distances, transfer rules and verdicts, the pipeline."""
