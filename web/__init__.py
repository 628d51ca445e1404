"""The REST API and dashboard (FastAPI): calls services/, holds no trading logic."""
