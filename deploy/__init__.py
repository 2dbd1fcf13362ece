"""Deployment of SQL Fleet: host.json profiles per durable backend and the scripts azd runs."""
