"""Events: the outbox, the relay and its subscribers (in-process or Redis Streams)."""
