"""What the app's three Function packages agree on: the durable functions' names, the instance
ids derived from domain ids (``names``), and the messages they pass (``messages``).

``api`` (HTTP triggers and the durable client), ``orchestrators`` and ``activities`` each import
this package and ``sqlfleet``; none imports another.
"""
