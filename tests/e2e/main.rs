//! End-to-end tests over the local node: the real JSON-RPC and PubSub (solana-rpc-client and
//! solana-pubsub-client), our program with spl-account-compression and spl-noop deployed as sBPF
//! in solana-test-validator's genesis, providers and clients running the same code a user runs. One
//! binary, one shared node; each test serves its own model id so providers never take
//! another test's requests.

mod audit;
mod bad_input;
mod direct;
mod expiry;
mod filled;
mod gateway;
mod localnet;
mod long_answer;
mod lossy;
mod lossy_pubsub;
#[cfg(feature = "mistralrs")]
mod mistral;
mod node_outage;
mod node_restart;
mod node_switch;
mod receipts;
mod restart;
mod scenario;
mod support;
mod wait;
mod web;
mod webdriver;
mod whole_loop;
