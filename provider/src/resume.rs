//! Picking an answer up where it stopped (a restarted provider, or a job retried after an
//! error): the chain is the only state. The job first waits until no transaction an earlier
//! run may have had in flight can still land, then reads what was posted from the ledger,
//! checks it against the request's hash chain and decrypts it, so generation continues from
//! the text the client has seen, with no chunk posted twice or skipped.

use crate::context::JobError;
use anchor_lang::prelude::Pubkey;
use chainference::state::Request;
use chainference_client::answer::AnswerOpener;
use chainference_client::envelope::{Compression, SessionKey};
use chainference_client::ledger::history_of;
use chainference_client::rpc::Chain;
use chainference_client::stream::{chunks_of, StreamAssembler};
use chainference_prover::core::ResponseCursor;
use std::time::Duration;

/// How long to wait between reads while the ledger lags the account.
const LEDGER_LAG_POLL: Duration = Duration::from_millis(300);
/// Reads of the ledger before giving up on it catching up with the account.
const LEDGER_LAG_READS: usize = 20;
/// How often the block height is read while waiting for old transactions to expire.
const QUIET_POLL: Duration = Duration::from_secs(2);

/// What an answer already holds on chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posted {
    /// Where it stands: next sequence number, tokens billed, leaves, chain, finished.
    pub cursor: ResponseCursor,
    /// The text its chunks decode to: what the client has been shown. A compressed block cut
    /// off by a crash decodes to nothing and is generated again.
    pub text: String,
}

/// Waits until the chain's block height passes `height`, so that no transaction signed before
/// it was read can land any more.
pub async fn wait_until_past(chain: &Chain, height: u64) -> Result<(), JobError> {
    let mut told = false;
    loop {
        let now = chain.block_height().await?;
        if now > height {
            return Ok(());
        }
        if !told {
            tracing::info!(
                block_height = now,
                until = height,
                "resuming: waiting until transactions of an earlier run can no longer land"
            );
            told = true;
        }
        tokio::time::sleep(QUIET_POLL).await;
    }
}

/// Reads `request`'s posted answer from the ledger, checked like a client checks it and
/// against the account's hash chain, and decrypts it with `key`.
pub async fn read_posted(
    chain: &Chain,
    request: &Pubkey,
    account: &Request,
    key: SessionKey,
    compression: Compression,
) -> Result<Posted, JobError> {
    let expected = account.response.cursor();
    if expected.next_seq == 0 {
        return Ok(Posted::default());
    }
    for _ in 0..LEDGER_LAG_READS {
        let mut assembler = StreamAssembler::new(*request, account.terms.max_output_tokens);
        let mut opener = AnswerOpener::new(key, chain.key_context(request), compression)?
            .with_token_limit(account.terms.max_output_tokens);
        let mut text = String::new();
        for transaction in history_of(chain, request).await? {
            for batch in transaction.batches {
                let ready = match assembler.offer(batch) {
                    Ok(ready) => ready,
                    Err(error) => {
                        tracing::warn!(%error, "a batch on the ledger was refused");
                        continue;
                    }
                };
                for chunk in ready.iter().flat_map(chunks_of) {
                    text.push_str(&opener.open(&chunk)?);
                }
            }
        }
        if assembler.cursor() == &expected {
            return Ok(Posted {
                cursor: expected,
                text,
            });
        }
        tokio::time::sleep(LEDGER_LAG_POLL).await;
    }
    Err(JobError::LedgerBehind)
}
