"""Figures for a regulator: the CNIL findings counted (cnil) and the compliance report (compliance).

Read-only over the requests and their audit trail. May import: rights.lifecycle, rights.queries,
rights.models, matching's models. Called by the admin dashboard, the API and a management command.
"""
