"""SQL Fleet's domain: models, the job store, credentials, lifecycle rules and settings.

Nothing in this package knows about HTTP; ``api/`` translates between requests and this domain.
"""

__version__ = "0.1.0"
