"""What the person asking does and sees: submission, email confirmation, new photos, the status page.

May import: rights.lifecycle, rights.queries, rights.models, matching's services. Called by portal's
views and the API; never imports another use-case folder, rights.tasks or rights.jobs.
"""
