"""REST API v1 (``/api/v1/``): requests from agents and other systems, the staff actions, the
compliance report and the collection. One view per action, each with its own input and output
serializers; views call services and hold no rules. Requests are named by their public reference."""
