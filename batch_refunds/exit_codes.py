"""The exit codes a run ends with; ``summary.json`` records them too, so they live here."""

EXIT_OK = 0  # every row refunded, already refunded, or planned
EXIT_ROWS_NOT_DONE = 1  # some row invalid, rejected or failed
EXIT_NOT_STARTED = 2  # usage, configuration, unreadable file, guardrail: nothing was sent
EXIT_BUSY = 75  # inbox: another pass (or run) holds the folder or journal; nothing was touched
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: rows in flight finished, the rest failed
