//! Points in a job's life where a hook may hold it. Fault-injection tests hold a job at one of
//! them and kill the provider there, to show that a restart loses and repeats nothing.

use anchor_lang::prelude::Pubkey;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// A point in one request's job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// An append was handed to the RPC and is not confirmed yet.
    BatchSent {
        /// The request.
        request: Pubkey,
        /// The append's first sequence number.
        first_seq: u32,
    },
    /// An append was confirmed.
    BatchConfirmed {
        /// The request.
        request: Pubkey,
        /// The sequence number the next chunk gets.
        next_seq: u32,
    },
    /// The final chunk is confirmed; payment is not claimed yet.
    Answered {
        /// The request.
        request: Pubkey,
    },
}

impl Checkpoint {
    /// The request whose job reached it.
    pub fn request(&self) -> Pubkey {
        match *self {
            Self::BatchSent { request, .. }
            | Self::BatchConfirmed { request, .. }
            | Self::Answered { request } => request,
        }
    }
}

/// A hook a job awaits at every [`Checkpoint`].
pub type Hold = Arc<dyn Fn(Checkpoint) -> BoxFuture<'static, ()> + Send + Sync>;

/// Awaits `hold` at `checkpoint`, if there is a hook.
pub async fn pass(hold: &Option<Hold>, checkpoint: Checkpoint) {
    if let Some(hold) = hold {
        hold(checkpoint).await;
    }
}
