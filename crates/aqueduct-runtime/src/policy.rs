//! Delivery policies: retry with backoff, per-call timeout, token-bucket
//! rate limit and circuit breaker. The executor combines them in
//! `executor::targets`; each piece is independent and tested on its own.

pub mod breaker;
pub mod rate_limit;
pub mod retry;
pub mod timeout;
