//! The `chainference` command's library: the client commands ([`cli`]), the website
//! ([`web`]), the OpenAI-compatible API ([`gateway`]), the local node (feature `localnet`), the demo and the benchmarks (features
//! `localnet` and `mistralrs`).

#[cfg(all(feature = "localnet", feature = "mistralrs"))]
pub mod bench;
pub mod cli;
#[cfg(all(feature = "localnet", feature = "mistralrs"))]
pub mod demo;
pub mod gateway;
#[cfg(feature = "localnet")]
pub mod localnet;
#[cfg(all(feature = "localnet", feature = "mistralrs"))]
pub mod smollm2;
pub mod web;
