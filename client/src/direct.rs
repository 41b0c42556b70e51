//! Direct delivery (design §9), the client's side. Only batch roots go on chain; the sealed
//! chunks come over a WebSocket from the locking server's endpoint as the engine produces
//! them. Each chunk is checked by the prover core's rules and handed on (decrypted, shown) as
//! it arrives: its AEAD tag proves it is the server's, sealed for this request at its sequence
//! number. When the server closes a batch, the batch is checked whole and acknowledged at once
//! with a wallet signature over `(request, next_seq, tokens, chain)`, which commits to exactly
//! those chunks, so the bill can never cover anything else, whenever its root lands. The
//! server posts roots only as often as it needs (at the completion, and every few batches of a
//! long answer); each root that lands must meet the batches received at one's end with the
//! same sequence, tokens and hash chain, or the answer is refused. The closed batches are kept
//! in a [`SavedAnswer`], which is the only copy of the answer and what an audit pairs with the
//! roots on the ledger.

use crate::rpc::{Chain, ChainError};
use crate::stream::Unconfirmed;
use anchor_lang::prelude::Pubkey;
use chainference::state::Request;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{
    check_chunk, Acknowledgement, BatchRuleError, ResponseCursor, Scope, MAX_DIRECT_BATCH_CHUNKS,
};
use chainference_prover::encoding::{base58_32, hex_array};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The path under a server's endpoint where one request's answer is served.
pub const ANSWER_PATH: &str = "/v1/answers/";
/// The `format` field of a saved answer.
pub const SAVED_FORMAT: &str = "chainference-direct-answer";
/// How often the request account is read for the roots that landed.
const POLL: Duration = Duration::from_millis(200);
/// How long to wait before connecting again to an endpoint that refused or dropped us.
const RECONNECT: Duration = Duration::from_secs(1);
/// Most closed batches held whose roots are not yet on chain; a server that leaves more is
/// refused. An honest server posts the roots of what was acknowledged once
/// `ROOTS_AT_ONCE` (the provider's, 4) of them wait, and has at most two batches
/// unacknowledged, so it leaves about six; more only while the client's RPC lags the server's.
pub const MAX_UNCONFIRMED_BATCHES: usize = 64;
/// Most ciphertext bytes held whose roots are not yet on chain (the open batch's included): a
/// server cannot make the client hold more.
pub const MAX_UNCONFIRMED_BYTES: usize = 64 << 20;

/// What a provider sends over the answer socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToClient {
    /// Chunks continuing the open batch, sent as they are sealed, before any root of theirs
    /// is on chain.
    Chunks(DirectPiece),
    /// The provider does not serve this request's answer here (yet: a restarted provider
    /// takes its requests up again after a while).
    Refused(String),
}

/// Chunks of the open batch, in order; `closes` ends the batch there (with no chunks: the
/// batch ends with those sent before), and the client acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectPiece {
    /// The server's stream: a number it draws when it starts the answer, the same in every
    /// message of it. Another one means the server started the answer again (a restart lost
    /// the first stream), which cannot continue what the client was shown.
    pub stream: u64,
    /// Sequence number of its first chunk (of the chunk after the batch, with none).
    pub first_seq: u32,
    /// Its chunks, in order.
    pub chunks: Vec<Chunk>,
    /// The batch ends with its last chunk.
    pub closes: bool,
}

/// What a client sends back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToProvider {
    /// Everything before `next_seq` was received.
    Ack(SignedAck),
}

/// One directly delivered batch, as saved: the chunks one root commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectBatch {
    /// Sequence number of its first chunk.
    pub first_seq: u32,
    /// Its chunks, in order.
    pub chunks: Vec<Chunk>,
}

/// An acknowledgement with the client's wallet signature of its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAck {
    /// The sequence number after the last chunk received.
    pub next_seq: u32,
    /// Answer tokens received.
    pub tokens: u32,
    /// The hash chain over the received batches' leaves.
    #[serde(with = "hex_array")]
    pub chain: [u8; 32],
    /// The wallet's ed25519 signature of [`Acknowledgement::message`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl SignedAck {
    /// `wallet`'s acknowledgement, in `scope` (program, cluster, request), of the answer up to
    /// `cursor`.
    pub fn sign(wallet: &Keypair, scope: &Scope, cursor: &ResponseCursor) -> Self {
        let ack = Acknowledgement {
            next_seq: cursor.next_seq,
            tokens: cursor.tokens,
            chain: cursor.chain,
        };
        let signature = wallet.sign_message(&ack.message(scope));
        Self {
            next_seq: ack.next_seq,
            tokens: ack.tokens,
            chain: ack.chain,
            signature: signature.into(),
        }
    }

    /// What it acknowledges.
    pub fn ack(&self) -> Acknowledgement {
        Acknowledgement {
            next_seq: self.next_seq,
            tokens: self.tokens,
            chain: self.chain,
        }
    }

    /// Whether `client` signed it in `scope`.
    pub fn is_signed_by(&self, client: &Pubkey, scope: &Scope) -> bool {
        solana_signature::Signature::from(self.signature)
            .verify(&client.to_bytes(), &self.ack().message(scope))
    }
}

/// The chunks of a directly delivered answer as the client received and checked them: the
/// answer's only copy, read back by `history` and paired with the ledger's roots by `audit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAnswer {
    /// Always [`SAVED_FORMAT`].
    pub format: String,
    /// The request.
    #[serde(with = "base58_32")]
    pub request: [u8; 32],
    /// The batches received whole, in order (an audit pairs those with roots on chain).
    pub batches: Vec<DirectBatch>,
}

impl SavedAnswer {
    /// An empty answer of `request`.
    pub fn new(request: &Pubkey) -> Self {
        Self {
            format: SAVED_FORMAT.into(),
            request: request.to_bytes(),
            batches: Vec::new(),
        }
    }

    /// The saved answer as JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a saved answer, refusing another format.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let saved: Self = serde_json::from_str(json)?;
        if saved.format != SAVED_FORMAT {
            return Err(serde::de::Error::custom(format!(
                "not a {SAVED_FORMAT} file (found {})",
                saved.format
            )));
        }
        Ok(saved)
    }

    /// Where the answer of `request` is saved under `dir`.
    pub fn path_in(dir: &Path, request: &Pubkey) -> PathBuf {
        dir.join(format!("{request}.json"))
    }

    /// Writes the answer to `path` whole or not at all (a temporary file, then a rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, self.to_json())?;
        std::fs::rename(&partial, path)
    }

    /// Reads the answer saved at `path`.
    pub fn read(path: &Path) -> Result<Self, SavedAnswerError> {
        let json = std::fs::read_to_string(path).map_err(|error| SavedAnswerError {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        Self::from_json(&json).map_err(|error| SavedAnswerError {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })
    }

    /// The saved batch starting at `first_seq`.
    pub fn batch_at(&self, first_seq: u32) -> Option<&DirectBatch> {
        self.batches
            .iter()
            .find(|batch| batch.first_seq == first_seq)
    }
}

/// A saved answer that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the saved direct answer {}: {reason}", path.display())]
pub struct SavedAnswerError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub reason: String,
}

/// Why a direct answer could not be received.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A batch broke the answer's rules.
    #[error("the server sent a batch that breaks the answer's rules: {0}")]
    Rule(BatchRuleError),
    /// The server sent something that is not a batch.
    #[error("the server sent a message that is not a batch: {0}")]
    Garbled(String),
    /// The roots on chain do not commit to the chunks received.
    #[error("the roots on chain do not match the chunks the server sent (at chunk {0}): refusing the answer")]
    RootMismatch(u32),
    /// The server ran more batches ahead of its roots than an honest one can.
    #[error("the server sent more than {limit} batches whose roots are not on chain: refusing the answer")]
    TooManyUnconfirmed {
        /// [`MAX_UNCONFIRMED_BATCHES`].
        limit: usize,
    },
    /// The server sent more ciphertext ahead of its roots than the client holds.
    #[error(
        "the server sent more than {limit} bytes whose roots are not on chain: refusing the answer"
    )]
    TooMuchUnconfirmed {
        /// [`MAX_UNCONFIRMED_BYTES`].
        limit: usize,
    },
    /// The server started the answer again mid-answer: a new stream cannot continue the one
    /// shown.
    #[error("the server started the answer again (it restarted mid-answer): its new stream cannot continue the text shown; the request completes on what was acknowledged, or expires at its time limit and the stake comes back")]
    StreamRestarted,
    /// The request was closed before its answer was complete.
    #[error("request {0} closed before its answer was complete")]
    Closed(Pubkey),
    /// The consumer of the batches gave up.
    #[error("{0}")]
    Consumer(String),
}

/// The URL of `request`'s answer under `endpoint`, from chunk `from_seq`.
pub fn answer_url(endpoint: &str, request: &Pubkey, from_seq: u32) -> String {
    format!(
        "{}{ANSWER_PATH}{request}?from={from_seq}",
        endpoint.trim_end_matches('/')
    )
}

/// What [`receive_direct`] hands on as the answer arrives.
#[derive(Debug)]
pub enum Received<'a> {
    /// Chunks checked by the answer's rules, to show now.
    Chunks(&'a [Chunk]),
    /// A batch closed, checked whole and acknowledged: keep it (it is the answer's only
    /// copy).
    Batch(&'a DirectBatch),
}

/// Receives `request`'s answer from `endpoint`, handing on each chunk as it arrives and each
/// batch as it closes (acknowledged then as `wallet`), and checking the roots that land meet
/// the batches received. Returns the cursor of what the roots confirm when the answer is
/// finished, or when the server completed the request on an acknowledgement of less.
pub async fn receive_direct(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    endpoint: &str,
    max_output_tokens: u32,
    mut deliver: impl FnMut(Received<'_>) -> Result<(), String>,
) -> Result<ResponseCursor, DirectError> {
    let scope = crate::instructions::scope(&chain.genesis_hash(), request);
    let mut receiver = Receiver {
        request: *request,
        max_output_tokens,
        stream: None,
        open: Vec::new(),
        open_tokens: 0,
        held_bytes: 0,
        unconfirmed: Unconfirmed::new(),
    };
    loop {
        let url = answer_url(endpoint, request, receiver.next_seq());
        let socket = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((socket, _)) => socket,
            Err(error) => {
                tracing::warn!(%url, %error, "cannot reach the server's endpoint; retrying");
                if let Some(done) = receiver.confirm(chain).await? {
                    return Ok(done);
                }
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        let (mut sink, mut stream) = socket.split();
        let closed = *receiver.unconfirmed.received();
        if closed.next_seq > 0 {
            // The last acknowledgement may not have reached the server before the cut.
            let ack = SignedAck::sign(wallet, &scope, &closed);
            let _ = sink.send(ack_message(&ack)).await;
        }
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => match receiver.receive(&text, &mut deliver)? {
                        Heard::More => {}
                        Heard::Closed(received) => {
                            let ack = SignedAck::sign(wallet, &scope, &received);
                            if sink.send(ack_message(&ack)).await.is_err() {
                                break;
                            }
                        }
                        // Until the request ends, which the account shows, ask again.
                        Heard::Refused(reason) => {
                            tracing::warn!(%request, %reason, "the server's endpoint refused the answer for now; asking again");
                            break;
                        }
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        tracing::warn!(%request, "the answer socket closed; reconnecting");
                        break;
                    }
                    Some(Ok(_)) => {}
                },
                _ = poll.tick() => {
                    if let Some(done) = receiver.confirm(chain).await? {
                        return Ok(done);
                    }
                }
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

fn ack_message(ack: &SignedAck) -> Message {
    Message::text(serde_json::to_string(&ToProvider::Ack(*ack)).unwrap_or_default())
}

/// What one message from the server came to.
enum Heard {
    /// More of the open batch.
    More,
    /// The open batch closed, leaving the answer there: to acknowledge.
    Closed(ResponseCursor),
    /// The endpoint does not serve the answer (now).
    Refused(String),
}

/// One answer as it is received: the open batch's chunks, and the closed batches waiting for
/// their roots.
struct Receiver {
    request: Pubkey,
    max_output_tokens: u32,
    /// The server's stream, from its first message.
    stream: Option<u64>,
    /// The open batch's chunks, shown already.
    open: Vec<Chunk>,
    /// The answer's tokens, the open batch's included.
    open_tokens: u32,
    /// Ciphertext bytes of the open batch and of the closed batches waiting for roots.
    held_bytes: usize,
    /// Closed batches waiting for their roots, with the cursor after the last one closed.
    unconfirmed: Unconfirmed<DirectBatch>,
}

impl Receiver {
    /// The sequence number of the next chunk.
    fn next_seq(&self) -> u32 {
        self.unconfirmed.received().next_seq + self.open.len() as u32
    }

    /// Checks one message's chunks continue the answer and hands them on; if they close a
    /// batch, checks it whole and hands it on.
    fn receive(
        &mut self,
        text: &str,
        deliver: &mut impl FnMut(Received<'_>) -> Result<(), String>,
    ) -> Result<Heard, DirectError> {
        let piece = match serde_json::from_str::<ToClient>(text) {
            Ok(ToClient::Chunks(piece)) => piece,
            Ok(ToClient::Refused(reason)) => return Ok(Heard::Refused(reason)),
            Err(error) => return Err(DirectError::Garbled(error.to_string())),
        };
        if *self.stream.get_or_insert(piece.stream) != piece.stream {
            return Err(DirectError::StreamRestarted);
        }
        // After a reconnection the server may send again what arrived before the cut.
        let fresh: Vec<Chunk> = piece
            .chunks
            .into_iter()
            .filter(|chunk| chunk.seq >= self.next_seq())
            .collect();
        if piece.closes && self.unconfirmed.len() >= MAX_UNCONFIRMED_BATCHES {
            return Err(DirectError::TooManyUnconfirmed {
                limit: MAX_UNCONFIRMED_BATCHES,
            });
        }
        if self.open.len() + fresh.len() > MAX_DIRECT_BATCH_CHUNKS {
            return Err(DirectError::Rule(BatchRuleError::TooManyChunks {
                limit: MAX_DIRECT_BATCH_CHUNKS,
            }));
        }
        if !fresh.is_empty() && self.unconfirmed.received().finished {
            return Err(DirectError::Rule(BatchRuleError::ChunkAfterFinal));
        }
        let mut tokens = self.open_tokens;
        for (index, chunk) in fresh.iter().enumerate() {
            let expected = self.next_seq().checked_add(index as u32);
            let last = piece.closes && index + 1 == fresh.len();
            tokens = check_chunk(
                expected,
                tokens,
                self.max_output_tokens,
                &chunk.as_ref(),
                last,
            )
            .map_err(DirectError::Rule)?;
        }
        self.held_bytes += fresh
            .iter()
            .map(|chunk| chunk.ciphertext.len())
            .sum::<usize>();
        if self.held_bytes > MAX_UNCONFIRMED_BYTES {
            return Err(DirectError::TooMuchUnconfirmed {
                limit: MAX_UNCONFIRMED_BYTES,
            });
        }
        if !fresh.is_empty() {
            deliver(Received::Chunks(&fresh)).map_err(DirectError::Consumer)?;
        }
        self.open.extend(fresh);
        self.open_tokens = tokens;
        if !piece.closes || self.open.is_empty() {
            // A close with nothing open repeats one already taken.
            return Ok(Heard::More);
        }
        let batch = DirectBatch {
            first_seq: self.unconfirmed.received().next_seq,
            chunks: std::mem::take(&mut self.open),
        };
        let mut after = *self.unconfirmed.received();
        let views: Vec<_> = batch.chunks.iter().map(Chunk::as_ref).collect();
        after
            .apply_direct(&self.request.to_bytes(), self.max_output_tokens, &views)
            .map_err(DirectError::Rule)?;
        deliver(Received::Batch(&batch)).map_err(DirectError::Consumer)?;
        self.unconfirmed.hold(batch, after);
        Ok(Heard::Closed(after))
    }

    /// Reads the request account and checks the roots that landed meet the batches received;
    /// the final cursor once the answer is finished or the request is completed.
    async fn confirm(&mut self, chain: &Chain) -> Result<Option<ResponseCursor>, DirectError> {
        let account: Option<Request> = chain.account(&self.request, "Request").await?;
        let Some(account) = account else {
            return Err(DirectError::Closed(self.request));
        };
        let posted = account.response.cursor();
        let confirmed = self
            .unconfirmed
            .confirm(&posted)
            .map_err(|mismatch| DirectError::RootMismatch(mismatch.next_seq))?;
        let released: usize = confirmed
            .iter()
            .flat_map(|batch| &batch.chunks)
            .map(|chunk| chunk.ciphertext.len())
            .sum();
        self.held_bytes = self.held_bytes.saturating_sub(released);
        let delivered = *self.unconfirmed.confirmed();
        let completed = account.state == chainference::state::RequestState::Completed;
        let settled = completed && delivered.next_seq == posted.next_seq;
        Ok((delivered.finished || settled).then_some(delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_ack_verifies_only_for_its_client_and_scope() {
        let wallet = Keypair::new();
        let request = Pubkey::new_unique();
        let scope = crate::instructions::scope(&[1; 32], &request);
        let cursor = ResponseCursor {
            next_seq: 4,
            tokens: 90,
            leaves: 2,
            chain: [5; 32],
            finished: false,
        };
        let ack = SignedAck::sign(&wallet, &scope, &cursor);
        assert!(ack.is_signed_by(&wallet.pubkey(), &scope));
        assert!(!ack.is_signed_by(&Pubkey::new_unique(), &scope));
        for other in [
            crate::instructions::scope(&[1; 32], &Pubkey::new_unique()),
            crate::instructions::scope(&[2; 32], &request),
            Scope {
                program: [3; 32],
                ..scope
            },
        ] {
            assert!(!ack.is_signed_by(&wallet.pubkey(), &other));
        }
        let inflated = SignedAck { tokens: 91, ..ack };
        assert!(!inflated.is_signed_by(&wallet.pubkey(), &scope));
        let json = serde_json::to_string(&ToProvider::Ack(ack)).expect("json");
        assert_eq!(
            serde_json::from_str::<ToProvider>(&json).expect("parses"),
            ToProvider::Ack(ack)
        );
    }

    #[test]
    fn the_answer_url_sits_under_the_endpoint() {
        let request = Pubkey::new_unique();
        assert_eq!(
            answer_url("ws://127.0.0.1:7450/", &request, 3),
            format!("ws://127.0.0.1:7450/v1/answers/{request}?from=3")
        );
    }
}
