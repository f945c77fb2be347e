"""Deploy: a SAM template transformed offline, its intrinsics resolved, its resources created in dependency order
(`deployer`), one module per resource family (`resources/`)."""
