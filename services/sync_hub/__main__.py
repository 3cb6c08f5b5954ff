from services.sync_hub.cli import app

app(prog_name="python -m services.sync_hub")
