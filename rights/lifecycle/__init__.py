"""The life of one request, shared by every use case: the bottom of rights/ above the models.

Holds: transitions (a status moves only here, by conditional UPDATE, with its audit row), claims
(taking a request for work), clock (the statutory deadline and its pause), audit (the hash-chained
trail), linking (the same person's requests), emails, and enqueue (the only place a task is sent:
after commit, by task name).
May import: rights.models, matching's models and services, Django, Celery's app. Never a use-case
folder, rights.queries, rights.tasks or rights.jobs.
"""
