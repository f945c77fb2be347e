"""EventBridge: the router that delivers matched events to targets, S3 notifications, and schedules (expressions and
the scheduler that fires scheduled rules)."""
