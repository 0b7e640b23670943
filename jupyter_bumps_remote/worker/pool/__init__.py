"""Code of a worker pool process (one per concurrency slot, forked by Celery): it receives a
job's message, takes the job's lease, hands the job to a fit process forked ahead of it, and
records how that fit process ended. It runs only trusted code."""
