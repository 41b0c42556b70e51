//! Accounts the program owns (design §2).

mod admission;
mod client;
mod config;
mod receipt;
mod request;
mod server;

pub use client::*;
pub use config::*;
pub use receipt::*;
pub use request::*;
pub use server::*;
