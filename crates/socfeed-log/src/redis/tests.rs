//! Redis-only tests.
