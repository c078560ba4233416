"""The ASGI application uvicorn serves (``api.app:app``)."""

from api.main import create_app

app = create_app()
