from batch_refunds.cli.main import main

raise SystemExit(main())
