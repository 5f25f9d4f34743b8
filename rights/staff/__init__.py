"""What privacy staff decide: match review and approval, extension, refusal, linking requests.

May import: rights.lifecycle, rights.queries, rights.models, rights.pipeline (resuming erasures that
waited for an access answer). Called by rights.admin, rights.api and management commands.
"""
