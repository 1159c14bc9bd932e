"""Command-line entry points (the shell around the definitions and a Dagster instance):

python -m resnet_pipeline.cli.demo              the offline cli.demo (scripts/demo.sh)
python -m resnet_pipeline.cli.experiments ...   check, register and run experiment files
"""
