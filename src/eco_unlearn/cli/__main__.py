from eco_unlearn.cli import app

app()
