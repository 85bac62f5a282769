"""The platform's rules: no HTTP, no SQL. Each API family translates to and from these."""
