"""devhost host-side tests: HTTP, app loading, timers and the conformance suites."""
