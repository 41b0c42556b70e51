//! The `chainference` command's library: the local node (feature `localnet`).

#[cfg(feature = "localnet")]
pub mod localnet;
