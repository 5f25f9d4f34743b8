"""Scheduled upkeep: deadline reminders and escalation, recovery of stuck work, purge, retention.

May import: rights.lifecycle, rights.queries, rights.models, rights.pipeline (the erasure's own
rules), rights.recipients, matching. Called by rights.jobs; never imports rights.tasks or rights.jobs.
"""
