"""Reliability tests that attack a real uvicorn server on loopback."""
