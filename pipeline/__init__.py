"""The night: the step graph (per call and per day), the call-batch runner and the fan-out
over workers, free of any orchestrator and of the command line."""
