//! Chainference's client SDK: the cluster connection and everything that uses it.
//!
//! What needs no connection (instructions, the envelope, answers sealed, packed and assembled,
//! token claims, receipts, the seeded sampler, keypair files) is `chainference-client-core`, re-exported here under
//! the same names. [`rpc`] connects to a cluster and sends transactions that execute once;
//! [`ledger`] reads instructions and the answer's events back from transactions; [`follow`]
//! follows one answer live over PubSub with gaps filled from the ledger; [`direct`] receives an
//! answer from the server's endpoint instead, with only its roots on chain. [`ask`] is a
//! question's whole life; [`history`] reads a past one back; [`audit`] rebuilds and checks a
//! transcript from the finalized ledger alone; [`accounts`] lists servers and requests;
//! [`lookup`] finds or creates the address lookup table a provider's v0 appends load their
//! fixed accounts from; [`market`] groups the servers' offers by model and builds a question
//! against them with the program's rules (price caps from the stake, the sealed prompt's size,
//! who may lock it); [`receipt`] checks a receipt against its state tree on the cluster;
//! [`logging`] is the binaries' one tracing setup; [`weights`] digests the model files an offer
//! pins.

pub use chainference_client_core::{
    answer, batcher, claims, envelope, instructions, rescore, sampling, stream, wallet,
};

pub mod accounts;
pub mod ask;
pub mod audit;
pub mod direct;
pub mod follow;
pub mod history;
pub mod ledger;
pub mod logging;
pub mod lookup;
pub mod market;
pub mod receipt;
pub mod rpc;
pub mod weights;
