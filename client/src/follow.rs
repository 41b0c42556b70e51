//! Following one answer live (design §7): `logsSubscribe` mentioning the request at
//! `confirmed` delivers batches as they land; notifications are hints, so a gap, a silent
//! socket or a cut one is filled from the ledger (`getSignaturesForAddress` and
//! `getTransaction`). Every batch is checked by the [`StreamAssembler`], then held until the
//! Request account's response cursor (sequence, tokens, leaves, hash chain, finished) reaches
//! its end with the same values ([`Unconfirmed`]: one account read per group of batches
//! received), and only then handed on, in order, once.

use crate::ledger::{read_transaction, signatures_of};
use crate::rpc::{Chain, ChainError};
use crate::stream::{chunk_batches, StreamAssembler, Unconfirmed};
use anchor_lang::prelude::Pubkey;
use chainference::events::ChunkBatch;
use chainference::state::Request;
use chainference_prover::core::ResponseCursor;
use futures_util::StreamExt;
use solana_commitment_config::CommitmentConfig;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client_api::config::{RpcTransactionLogsConfig, RpcTransactionLogsFilter};
use solana_signature::Signature;
use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

/// How long the socket may stay silent before the ledger is asked.
const SILENCE: Duration = Duration::from_secs(2);
/// How soon the account is read again while received batches wait for it (a node behind).
const CONFIRM_RETRY: Duration = Duration::from_millis(250);

/// Why an answer could not be followed to its end.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The request was closed (expired) before its answer was complete.
    #[error("the request closed after {0} chunks without a final one: it expired, and its stake went back to the client")]
    Expired(u32),
    /// The request account's answer state (hash chain) does not match what was received.
    #[error("the request's hash chain on chain differs from the answer received: refusing it")]
    ChainMismatch,
    /// The consumer of the batches gave up.
    #[error("{0}")]
    Consumer(String),
}

/// Follows `request`'s answer from its first chunk to its final one, handing each batch to
/// `deliver` in order once the request account confirms it. Returns the answer's final
/// cursor, which is the request account's.
pub async fn follow_answer(
    chain: &Chain,
    request: &Pubkey,
    max_output_tokens: u32,
    mut deliver: impl FnMut(ChunkBatch) -> Result<(), String>,
) -> Result<ResponseCursor, FollowError> {
    let mut follower = Follower {
        chain,
        request: *request,
        assembler: StreamAssembler::new(*request, max_output_tokens),
        // Unbounded: chain-delivered batches are on the ledger, each paid for by the
        // server's fees, and the account confirms them as fast as they are received.
        unconfirmed: Unconfirmed::new(),
        seen: HashSet::new(),
    };
    loop {
        match PubsubClient::new(chain.pubsub_url()).await {
            Ok(pubsub) => {
                let subscription = pubsub
                    .logs_subscribe(
                        RpcTransactionLogsFilter::Mentions(vec![request.to_string()]),
                        RpcTransactionLogsConfig {
                            commitment: Some(CommitmentConfig::confirmed()),
                        },
                    )
                    .await;
                match subscription {
                    Ok((mut notifications, _unsubscribe)) => {
                        // Whatever landed before the subscription took hold.
                        follower.backfill().await?;
                        follower.settle(&mut deliver).await?;
                        while !follower.done() {
                            let wait = if follower.unconfirmed.is_empty() {
                                SILENCE
                            } else {
                                CONFIRM_RETRY
                            };
                            match tokio::time::timeout(wait, notifications.next()).await {
                                Ok(Some(notification)) => {
                                    let logs = notification.value;
                                    if logs.err.is_some() {
                                        continue;
                                    }
                                    let Ok(signature) = Signature::from_str(&logs.signature) else {
                                        continue;
                                    };
                                    if !follower.seen.insert(signature) {
                                        continue;
                                    }
                                    let batches = chunk_batches(&logs.logs, &chainference::ID);
                                    follower.offer(batches);
                                    if follower.assembler.missing().is_some() {
                                        follower.backfill().await?;
                                    }
                                    if !follower.unconfirmed.is_empty() {
                                        follower.settle(&mut deliver).await?;
                                    }
                                }
                                Ok(None) => {
                                    tracing::warn!("the PubSub socket closed; reconnecting");
                                    break;
                                }
                                Err(_) => follower.settle(&mut deliver).await?,
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "logsSubscribe failed; reading the ledger instead");
                        tokio::time::sleep(SILENCE).await;
                        follower.settle(&mut deliver).await?;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, url = chain.pubsub_url(), "cannot reach PubSub; reading the ledger instead");
                tokio::time::sleep(SILENCE).await;
                follower.settle(&mut deliver).await?;
            }
        }
        if follower.done() {
            return Ok(*follower.unconfirmed.confirmed());
        }
    }
}

struct Follower<'a> {
    chain: &'a Chain,
    request: Pubkey,
    assembler: StreamAssembler,
    /// Batches the assembler gave out, waiting for the account.
    unconfirmed: Unconfirmed<ChunkBatch>,
    seen: HashSet<Signature>,
}

impl Follower<'_> {
    /// Whether the final chunk was confirmed and handed on.
    fn done(&self) -> bool {
        self.unconfirmed.confirmed().finished
    }

    /// Offers batches to the assembler and holds those that now continue the answer. A batch
    /// that fails the checks is dropped (a forged log line cannot stop the stream).
    fn offer(&mut self, batches: Vec<ChunkBatch>) {
        for batch in batches
            .into_iter()
            .filter(|batch| batch.request == self.request)
        {
            match self.assembler.offer_with_cursors(batch) {
                Ok(ready) => {
                    for (batch, after) in ready {
                        self.unconfirmed.hold(batch, after);
                    }
                }
                Err(error) => tracing::warn!(%error, "batch refused"),
            }
        }
    }

    /// Reads every transaction of the request not yet seen.
    async fn backfill(&mut self) -> Result<(), FollowError> {
        let confirmed = CommitmentConfig::confirmed();
        for (signature, _) in signatures_of(self.chain, &self.request, confirmed).await? {
            if self.seen.contains(&signature) {
                continue;
            }
            let recorded =
                read_transaction(self.chain, &signature, &self.request, confirmed).await?;
            if let Some(recorded) = recorded {
                self.seen.insert(signature);
                self.offer(recorded.batches);
            }
        }
        Ok(())
    }

    /// Reads the request account once and hands on the held batches it confirms, after
    /// backfilling if it is ahead of what was received; fails if the account is gone (the
    /// request expired) before the answer's end, or if it contradicts the batches received.
    async fn settle(
        &mut self,
        deliver: &mut impl FnMut(ChunkBatch) -> Result<(), String>,
    ) -> Result<(), FollowError> {
        let account: Option<Request> = self.chain.account(&self.request, "Request").await?;
        let Some(account) = account else {
            if self.done() {
                return Ok(());
            }
            return Err(FollowError::Expired(self.unconfirmed.confirmed().next_seq));
        };
        let posted = account.response.cursor();
        if posted.next_seq > self.unconfirmed.received().next_seq {
            self.backfill().await?;
        }
        let confirmed = self
            .unconfirmed
            .confirm(&posted)
            .map_err(|_| FollowError::ChainMismatch)?;
        for batch in confirmed {
            deliver(batch).map_err(FollowError::Consumer)?;
        }
        Ok(())
    }
}
