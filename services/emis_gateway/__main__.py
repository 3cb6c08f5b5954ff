"""``python -m services.emis_gateway serve|migrate|load DIR``"""

from services.emis_gateway.cli import app

app(prog_name="emis_gateway")
