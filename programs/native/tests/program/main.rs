//! The program as a cluster runs it (its sBPF build in LiteSVM with spl-account-compression's
//! and spl-noop's, compute metered, CPIs executed for real): the whole lifecycle to the lamport, every
//! refusal by name, lamport conservation over random instruction sequences, and an answer
//! sealed, packed, appended, streamed back from the logs out of order and audited; direct
//! delivery's roots and the acknowledgement its bill stops at; receipts written through Light's
//! own system program (SBF) into its v1 state trees.

mod attacks;
mod common;
mod compute;
mod conservation;
mod direct;
mod lifecycle;
mod receipts;
mod refusals;
mod stream;
