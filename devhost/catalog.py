"""The app's durable functions, found by name the way the extension finds them."""

from __future__ import annotations

from typing import Any

from devhost.taskhub import (
    ActivityInvoker,
    DurableFunctions,
    EntityInvoker,
    OrchestratorInvoker,
    UnknownFunction,
)


class FunctionCatalog:
    """The app's durable functions by case-insensitive name (the extension's lookup rule)."""

    def __init__(self, functions: DurableFunctions) -> None:
        self._by_kind: dict[str, dict[str, tuple[str, Any]]] = {
            "orchestrator": {n.lower(): (n, f) for n, f in functions.orchestrators.items()},
            "activity": {n.lower(): (n, f) for n, f in functions.activities.items()},
            "entity": {n.lower(): (n, f) for n, f in functions.entities.items()},
        }

    def orchestrator(self, name: str) -> tuple[str, OrchestratorInvoker] | None:
        return self._by_kind["orchestrator"].get(name.lower())

    def activity(self, name: str) -> tuple[str, ActivityInvoker] | None:
        return self._by_kind["activity"].get(name.lower())

    def entity(self, name: str) -> tuple[str, EntityInvoker] | None:
        return self._by_kind["entity"].get(name.lower())

    def unknown(self, kind: str, name: str) -> UnknownFunction:
        known = sorted(registered for registered, _ in self._by_kind[kind].values())
        return UnknownFunction(name, kind, known)

    def missing(self, kind: str, name: str) -> str | None:
        """The extension's error message when no ``kind`` function has that name, else None."""
        if name.lower() in self._by_kind[kind]:
            return None
        return str(self.unknown(kind, name))
