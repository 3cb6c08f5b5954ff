from services.kemensos_mock.cli import app

app(prog_name="python -m services.kemensos_mock")
