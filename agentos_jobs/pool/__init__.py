"""The credential pool: API keys, the policy that hands them out, the lease stores that keep their state (a file, or
Redis), rate limits, and the run's spend."""
