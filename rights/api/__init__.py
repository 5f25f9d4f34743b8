"""The REST API for other systems. ``v1/`` (``/api/v1/``) is the API: submissions by agents and
other systems, the staff actions, the report and the collection (see rights.api.v1). The modules
beside it are the earlier read-only API, kept at ``/api/`` for the integrations that use it.

The earlier one (staff accounts only): read access to requests and notices, schema at
``api/schema/``. Personal data is left out: no requester email, no secret
tokens (status link, acknowledgement link); requests are identified by id.

Holds: permissions (who may read), serializers (what a row shows), views (the read-only viewsets and
their query parameters), urls (the router and the schema). Holds no rules: the due date, overdue and
the rest come from the use-case folders and rights.lifecycle. Nothing imports it but the URL conf.
"""
