"""The command line: the only layer that parses flags, reads the environment for options,
prints, prompts and chooses exit codes. One module per command."""
