"""The parts of wxhook.dispatcher.Dispatcher, by how long their work lives.

- pipeline.py: one push, from its claim to its answer, within the deadline;
- claims.py: the dedup step (the claim, duplicates, stored replies; fail open);
- supervisor.py: handler tasks, and work that outlives the response;
- records.py: failure records, for `wxhook failures replay`;
- late.py: replies that miss the deadline, as customer-service messages; the typing status;
- replay.py: `wxhook failures replay`;
- handlers.py: one handler run; ports.py: the protocols the parts are given.

Nothing is imported here, so that wxhook.router can use late.TypingStatus.
"""
