"""The ``uhs`` command line."""

from __future__ import annotations

import typer
from rich.console import Console

from uhealthsec import __version__

app = typer.Typer(help="U-HealthSec: secure exchange of patient documents.", no_args_is_help=True)
console = Console()


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"uhealthsec {__version__}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Start the API server."""
    import uvicorn

    from uhealthsec.server.app import create_app

    console.print(f"U-HealthSec {__version__} listening on http://{host}:{port}")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


def main() -> None:
    app()
