//! The `chainference` command's library: the client commands ([`cli`]), the local node
//! (feature `localnet`) and the demo (features `localnet` and `mistralrs`).

pub mod cli;
#[cfg(all(feature = "localnet", feature = "mistralrs"))]
pub mod demo;
#[cfg(feature = "localnet")]
pub mod localnet;
#[cfg(all(feature = "localnet", feature = "mistralrs"))]
pub mod smollm2;
