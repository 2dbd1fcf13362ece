"""The engines SQL Fleet reaches, one enum from the API to the dialect (``sqlfleet.dialects``)."""

from enum import Enum


class Engine(str, Enum):
    SQLSERVER = "sqlserver"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    SQLITE = "sqlite"
