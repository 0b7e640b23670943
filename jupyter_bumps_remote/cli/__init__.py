"""The `bumps-remote` command (`main.py`): start a worker, submit a model script, list
environments; and the generator of docs/configuration.md (`config_reference.py`)."""
