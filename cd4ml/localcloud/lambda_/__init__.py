"""Lambda: the runtime that runs real handlers in warm worker processes, asynchronous invocation and destinations,
and Kinesis event-source mappings (`event_source_mapping`: the poller, its mappings and shard readers)."""
