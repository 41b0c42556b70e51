//! Following one answer live (design §7): `logsSubscribe` mentioning the request at
//! `confirmed` delivers batches as they land; notifications are hints, so a gap, a silent
//! socket or a cut one is filled from the ledger (`getSignaturesForAddress` and
//! `getTransaction`), and every batch is checked by the [`StreamAssembler`] before it is
//! handed on, in order, once.

use crate::ledger::{read_transaction, signatures_of};
use crate::rpc::{Chain, ChainError};
use crate::stream::{chunk_batches, StreamAssembler};
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

/// Why an answer could not be followed to its end.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The request was closed (expired) before its answer was complete.
    #[error("the request closed after {0} chunks without a final one: it expired, and its stake went back to the client")]
    Expired(u32),
    /// The answer on chain does not match what was received.
    #[error("the request's hash chain on chain differs from the answer received: refusing it")]
    ChainMismatch,
    /// The consumer of the batches gave up.
    #[error("{0}")]
    Consumer(String),
}

/// Follows `request`'s answer from its first chunk to its final one, handing each checked
/// batch to `deliver` in order. Returns the answer's final cursor, checked against the
/// request account's hash chain.
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
                        follower.backfill(&mut deliver).await?;
                        while !follower.done() {
                            match tokio::time::timeout(SILENCE, notifications.next()).await {
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
                                    let batches = chunk_batches(
                                        &logs.logs,
                                        &chainference::ID,
                                        chain.log_form(),
                                    );
                                    follower.offer(batches, &mut deliver)?;
                                    if follower.assembler.missing().is_some() {
                                        follower.backfill(&mut deliver).await?;
                                    }
                                }
                                Ok(None) => {
                                    tracing::warn!("the PubSub socket closed; reconnecting");
                                    break;
                                }
                                Err(_) => follower.check_account(&mut deliver).await?,
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "logsSubscribe failed; reading the ledger instead");
                        tokio::time::sleep(SILENCE).await;
                        follower.check_account(&mut deliver).await?;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, url = chain.pubsub_url(), "cannot reach PubSub; reading the ledger instead");
                tokio::time::sleep(SILENCE).await;
                follower.check_account(&mut deliver).await?;
            }
        }
        if follower.done() {
            return follower.finish().await;
        }
    }
}

struct Follower<'a> {
    chain: &'a Chain,
    request: Pubkey,
    assembler: StreamAssembler,
    seen: HashSet<Signature>,
}

impl Follower<'_> {
    fn done(&self) -> bool {
        self.assembler.cursor().finished
    }

    /// Offers batches to the assembler and delivers those that now continue the answer.
    /// A batch that fails the checks is dropped (a forged log line cannot stop the stream).
    fn offer(
        &mut self,
        batches: Vec<ChunkBatch>,
        deliver: &mut impl FnMut(ChunkBatch) -> Result<(), String>,
    ) -> Result<(), FollowError> {
        for batch in batches
            .into_iter()
            .filter(|batch| batch.request == self.request)
        {
            match self.assembler.offer(batch) {
                Ok(ready) => {
                    for batch in ready {
                        deliver(batch).map_err(FollowError::Consumer)?;
                    }
                }
                Err(error) => tracing::warn!(%error, "batch refused"),
            }
        }
        Ok(())
    }

    /// Reads every transaction of the request not yet seen.
    async fn backfill(
        &mut self,
        deliver: &mut impl FnMut(ChunkBatch) -> Result<(), String>,
    ) -> Result<(), FollowError> {
        let confirmed = CommitmentConfig::confirmed();
        for (signature, _) in signatures_of(self.chain, &self.request, confirmed).await? {
            if self.seen.contains(&signature) {
                continue;
            }
            let recorded =
                read_transaction(self.chain, &signature, &self.request, confirmed).await?;
            if let Some(recorded) = recorded {
                self.seen.insert(signature);
                self.offer(recorded.batches, deliver)?;
            }
        }
        Ok(())
    }

    /// After a silence: backfills if the account is ahead of what was received; fails if the
    /// request closed without a final chunk.
    async fn check_account(
        &mut self,
        deliver: &mut impl FnMut(ChunkBatch) -> Result<(), String>,
    ) -> Result<(), FollowError> {
        let account: Option<Request> = self.chain.account(&self.request, "Request").await?;
        let behind = account
            .as_ref()
            .is_none_or(|request| request.response.next_seq > self.assembler.cursor().next_seq);
        if behind {
            self.backfill(deliver).await?;
        }
        if account.is_none() && !self.done() {
            return Err(FollowError::Expired(self.assembler.cursor().next_seq));
        }
        Ok(())
    }

    /// Checks the received answer against the account's hash chain (when it still exists).
    async fn finish(self) -> Result<ResponseCursor, FollowError> {
        let cursor = *self.assembler.cursor();
        let account: Option<Request> = self.chain.account(&self.request, "Request").await?;
        if let Some(request) = account {
            if request.response.next_seq == cursor.next_seq
                && request.response.chain != cursor.chain
            {
                return Err(FollowError::ChainMismatch);
            }
        }
        Ok(cursor)
    }
}
