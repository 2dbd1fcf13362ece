"""A local host for Python (v2 model) Azure Functions apps with Durable Functions.

Run it with ``python -m devhost APP_FOLDER``; it never imports ``sqlfleet``.
"""
