"""The finance console: a browser front end over the same library calls as the CLI.

``app.make_app`` builds the ``aiohttp.web`` application; ``batch-refunds serve`` runs it.
Nothing here decides anything about money: intake, plan, run, journal and report are the
library's (``intake.load_requests``, ``runner.run_batch``, ``journal.Journal``, the report
files), and the pages only show what those return.
"""
