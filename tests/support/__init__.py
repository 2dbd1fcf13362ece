"""Test support shared by every suite: real database servers, free ports, polling."""
