from worldgen.cli import app

app(prog_name="worldgen")
