from certkeeper_agent.cli import main

raise SystemExit(main())
