//! Start-up checks run on a thread of their own: the helper every
//! connector shares, re-exported for this crate's modules.

pub use aqueduct_connectors::support::startup::startup;
