"""The engines SQL Fleet reaches, one enum from the API to the dialect (``sqlfleet.dialects``)."""

from enum import StrEnum


class Engine(StrEnum):
    """A target engine. A ``StrEnum``, so it formats as its value ("sqlite") everywhere."""

    SQLSERVER = "sqlserver"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    SQLITE = "sqlite"

    @classmethod
    def of(cls, value: "str | Engine | None") -> "Engine":
        """The engine named by ``value``; None (a row or member that names none) is SQL Server,
        the engine Elastic Jobs targets. Raises ``ValueError`` for an unknown name."""
        return cls.SQLSERVER if value is None or value == "" else cls(value)


ENGINE_NAMES = tuple(engine.value for engine in Engine)
