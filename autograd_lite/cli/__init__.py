"""The command line (`main`), its expression language and the demo."""
