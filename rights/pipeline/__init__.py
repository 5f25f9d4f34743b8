"""The worker's side of a request: search, then fulfil (the dispatcher) into access, erasure or objection.

Holds: search (selfies checked, the collection searched, matches recorded), answers (stored and
sent), access (the Art. 15 answer), erasure (ledger, verification, certificate), objection
(suppression), failures (retry or hold), fulfil (claim an approved request, hand it on).
May import: rights.lifecycle, rights.queries, rights.models, rights.recipients (Art. 19 notices of
an erasure), matching. Called by rights.tasks; never imports rights.tasks or rights.jobs.
"""
