"""``python -m services.dapodik_gateway serve | migrate | load DIR``"""

from services.dapodik_gateway.cli import app

app(prog_name="python -m services.dapodik_gateway")
