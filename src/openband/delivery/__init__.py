"""Every outbound HTTP request to customers: callback outbox and worker, SSRF policy, signing."""
