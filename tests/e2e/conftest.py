"""End-to-end tests: the running service (in-process `Service` or `martingale run` processes)
on the paper exchange, judged by what it leaves in the database and the venue file."""
