"""The server's jobs (``uhs-server worker``): what each did, and when, for the metrics."""
