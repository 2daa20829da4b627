from kwatch.cli import main

raise SystemExit(main())
