"""MedJobs: the background-jobs console of a small clinic's medication program."""
__version__ = "0.1.0"
