"""The HTTP side of devhost: the request pipeline, httpTrigger functions and the Durable HTTP API.

Start with :mod:`devhost.http.pipeline` (context -> route -> auth -> handler -> errors) and
:mod:`devhost.http.server` (the route table).
"""
