//! One question's whole life on the client's side: create the request with its stake, wait for
//! a server's lock, seal the prompt to that server's per-request key, follow the answer live
//! (checked, then decrypted batch by batch; a direct answer from the server's endpoint, each
//! batch once its root is on chain) and read the bill. An unlocked request is expired
//! at its lock deadline, so the stake comes back. The server's token claims are checked against
//! the whole answer's text ([`crate::claims`]); an answer claiming more than its text can
//! hold is reported and, once completed, flagged.

use crate::answer::{AnswerError, AnswerOpener};
use crate::claims::{allowance_for, ClaimTally, Overclaim};
use crate::direct::{receive_direct, DirectError, Received, SavedAnswer};
use crate::envelope::{
    client_session, key_message, open_prompt, seal_prompt, server_key_is_signed, ClientSignature,
    Compression, EnvelopeError, FinishReason, PromptEnvelope, SessionKey,
};
use crate::follow::{follow_answer, FollowError};
use crate::instructions::{create_request, expire_request, flag_response, scope, submit_prompt};
use crate::ledger::{history_of, sealed_prompt};
use crate::rpc::{Chain, ChainError};
use crate::stream::chunks_of;
use anchor_lang::prelude::Pubkey;
use chainference::error::ChainferenceError;
use chainference::pda::{client_address, request_address};
use chainference::state::{Client, Delivery, Request, RequestState, RequestTerms, Server};
use chainference_prover::bundle::Chunk;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use x25519_dalek::PublicKey;

/// Sealed-prompt bytes per `submit_prompt` transaction (one piece fills a legacy transaction).
pub const PROMPT_PIECE: usize = 900;
/// How often the request account is polled while waiting for a lock or a settlement.
const POLL: Duration = Duration::from_millis(300);

/// Why a question failed.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Following the answer failed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// Keys or the prompt's encryption failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A chunk did not open.
    #[error("the answer does not decrypt: {0}")]
    Answer(#[from] AnswerError),
    /// No server locked the request in its lock window; the stake was returned.
    #[error("no server took the request within its lock window; the stake was returned (try another model, higher price caps, fewer filters, or check `chainference models`)")]
    NoServer,
    /// The request belongs to another wallet.
    #[error("request {0} belongs to another wallet: pass its -k/--keypair")]
    NotYours(Pubkey),
    /// The request has no prompt yet, so there is no answer to follow.
    #[error("request {0} has no prompt on chain yet: there is no answer to follow")]
    NoPromptYet(Pubkey),
    /// The request vanished or changed in an unexpected way.
    #[error("request {0} was closed before it was answered")]
    Closed(Pubkey),
    /// Receiving a direct answer failed.
    #[error(transparent)]
    Direct(#[from] DirectError),
    /// A direct answer could not be saved.
    #[error(
        "cannot save the direct answer to {path}: {reason} (pick a writable answers directory)"
    )]
    Save {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The lock's per-request key is not signed by its operator, or the operator is not one the
    /// request allowed.
    #[error("the key in the lock of request {request} is not signed by its server's operator {operator} (or that operator is not one you allowed): your RPC may not be telling the truth, so the prompt was not sent; use another RPC (the request expires and returns the stake)")]
    UnsignedServerKey {
        /// The request.
        request: Pubkey,
        /// The operator the lock names.
        operator: Pubkey,
    },
    /// The server locked a direct request but lists no endpoint.
    #[error("server {0} lists no endpoint to deliver a direct answer from; the request expires at its time limit, with the stake and the bond back")]
    NoEndpoint(Pubkey),
    /// The server did not finish by the time limit; the request was expired and the stake and
    /// the server's bond came back to the client.
    #[error("the server did not finish request {request} in time: it was expired, and the stake plus the server's bond of {bond} lamports came back")]
    Unfinished {
        /// The request.
        request: Pubkey,
        /// The bond the client received.
        bond: u64,
    },
}

/// What the client asks: the on-chain terms, the stake and the sealed conversation.
#[derive(Clone, Debug)]
pub struct Question {
    /// The request's terms.
    pub terms: RequestTerms,
    /// Lamports escrowed (the most the answer can cost).
    pub stake: u64,
    /// The conversation, sampling and limits, sealed to the locking server.
    pub prompt: PromptEnvelope,
    /// Where a directly delivered answer's chunks are saved (`<dir>/<request>.json`), its
    /// only copy; `None`: not kept.
    pub answers_dir: Option<PathBuf>,
}

/// Progress of a question, in order.
#[derive(Clone, Debug)]
pub enum AskEvent {
    /// The request exists.
    Created(Pubkey),
    /// A server locked it.
    Locked {
        /// The server's operator.
        operator: Pubkey,
    },
    /// The sealed prompt is on chain.
    PromptSent,
    /// Answer text, checked and decrypted, in order.
    Text(String),
    /// The completed answer's token claims exceed what its text can hold ([`crate::claims`]);
    /// the answer is flagged next.
    Overclaimed(Overclaim),
}

/// How an answered question ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The request's address.
    pub request: Pubkey,
    /// The server's operator.
    pub operator: Pubkey,
    /// Prompt tokens declared (billed at the input price).
    pub prompt_tokens: u32,
    /// Answer tokens billed.
    pub answer_tokens: u32,
    /// Batches (append transactions, one leaf each) the answer took.
    pub batches: u32,
    /// Why the answer ended.
    pub finish: Option<FinishReason>,
    /// Lamports billed.
    pub bill: u64,
    /// The protocol fee out of the bill.
    pub fee: u64,
    /// Stake returned to the client.
    pub refund: u64,
    /// Time from the start to each stage.
    pub timings: Timings,
    /// Where the server claimed more tokens than the text holds, and the flag sent for it.
    pub overclaimed: Option<Overclaimed>,
}

/// An answer whose token claims exceed its text, and what became of its flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overclaimed {
    /// The whole answer's claims against its text.
    pub overclaim: Overclaim,
    /// The flag sent with `flag_response`.
    pub flag: FlagOutcome,
}

/// What became of the flag for an overclaimed answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagOutcome {
    /// Flagged now: the server's success ratio counts it against it.
    Flagged,
    /// It was flagged before (an `ask --resume` of a flagged answer).
    AlreadyFlagged,
    /// The flag could not be sent (its window passed, or the chain refused): why.
    Failed(String),
}

/// Times from `ask`'s start to each stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// The request was confirmed.
    pub created: Duration,
    /// A lock was seen.
    pub locked: Duration,
    /// The prompt was confirmed.
    pub prompt_sent: Duration,
    /// The first answer text was shown.
    pub first_text: Duration,
    /// The final chunk was shown.
    pub answered: Duration,
}

/// The wallet's signature of the key message, signed twice and refused if they differ.
pub fn wallet_signature(wallet: &Keypair) -> Result<ClientSignature, EnvelopeError> {
    let message = key_message()?;
    let first = wallet.sign_message(&message);
    let second = wallet.sign_message(&message);
    ClientSignature::from_two(first.into(), second.into())
}

/// The nonce `wallet`'s next request gets.
pub async fn next_nonce(chain: &Chain, wallet: &Pubkey) -> Result<u64, ChainError> {
    let counter: Option<Client> = chain.account(&client_address(wallet), "Client").await?;
    Ok(counter.map_or(0, |counter| counter.next_nonce))
}

/// Asks `question` as `wallet`, reporting progress to `on_event`, and returns the settled
/// answer.
pub async fn ask(
    chain: &Chain,
    wallet: &Keypair,
    question: &Question,
    mut on_event: impl FnMut(AskEvent),
) -> Result<Answered, AskError> {
    let start = Instant::now();
    let mut timings = Timings::default();
    let signature = wallet_signature(wallet)?;
    let nonce = next_nonce(chain, &wallet.pubkey()).await?;
    let request = request_address(&wallet.pubkey(), nonce);
    let create = create_request(
        &wallet.pubkey(),
        nonce,
        question.stake,
        question.terms.clone(),
    );
    chain.send(&[create], wallet, &[]).await?;
    timings.created = start.elapsed();
    on_event(AskEvent::Created(request));

    let locked = wait_for_lock(chain, wallet, &request).await?;
    timings.locked = start.elapsed();
    on_event(AskEvent::Locked {
        operator: locked.lock.operator,
    });

    let scope = scope(&chain.genesis_hash(), &request);
    if !server_key_is_signed(&locked.lock, &scope, &question.terms.allowed_servers) {
        return Err(AskError::UnsignedServerKey {
            request,
            operator: locked.lock.operator,
        });
    }
    let context = chain.key_context(&request);
    let server_public = PublicKey::from(locked.lock.server_key);
    let (client_public, key) = client_session(&signature, &server_public, &context)?;
    let sealed = seal_prompt(&question.prompt, &key, &client_public, &context)?;
    let pieces: Vec<&[u8]> = sealed.chunks(PROMPT_PIECE).collect();
    for (index, piece) in pieces.iter().enumerate() {
        let last = index + 1 == pieces.len();
        let instruction = submit_prompt(&wallet.pubkey(), &request, piece.to_vec(), last);
        chain.send(&[instruction], wallet, &[]).await?;
    }
    timings.prompt_sent = start.elapsed();
    on_event(AskEvent::PromptSent);

    let answer = Session {
        request,
        key,
        compression: question.prompt.compression,
        deadline: locked.lock.locked_at + i64::from(locked.terms.time_limit_secs),
        server: locked.lock.server,
        terms: locked.terms,
        answers_dir: question.answers_dir.clone(),
        allowance: allowance_for(&question.prompt.sampling.stop),
    };
    receive(chain, wallet, &answer, start, timings, on_event).await
}

/// What it takes to receive one request's answer.
struct Session {
    request: Pubkey,
    key: SessionKey,
    compression: Compression,
    terms: RequestTerms,
    /// Unix time after which the request may be expired.
    deadline: i64,
    /// The locking server's account.
    server: Pubkey,
    /// Where a direct answer is saved.
    answers_dir: Option<PathBuf>,
    /// Tokens the answer may claim beyond its text's bytes ([`allowance_for`]).
    allowance: u64,
}

/// Reattaches to `request` (asked by `wallet`, in flight or answered): its answer is handed
/// to `on_event` whole from the first chunk, then live as it lands, then the bill.
pub async fn resume(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    answers_dir: Option<&Path>,
    on_event: impl FnMut(AskEvent),
) -> Result<Answered, AskError> {
    let start = Instant::now();
    let account: Option<Request> = chain.account(request, "Request").await?;
    let account = account.ok_or(AskError::Closed(*request))?;
    if account.client != wallet.pubkey() {
        return Err(AskError::NotYours(*request));
    }
    if matches!(account.state, RequestState::Open | RequestState::Locked) {
        return Err(AskError::NoPromptYet(*request));
    }
    let history = history_of(chain, request).await?;
    let (key, prompt) = open_sealed_prompt(
        chain,
        wallet,
        request,
        account.lock.server_key,
        &sealed_prompt(&history),
    )?;
    let session = Session {
        request: *request,
        key,
        compression: prompt.compression,
        deadline: account.lock.locked_at + i64::from(account.terms.time_limit_secs),
        server: account.lock.server,
        terms: account.terms,
        answers_dir: answers_dir.map(Path::to_path_buf),
        allowance: allowance_for(&prompt.sampling.stop),
    };
    receive(chain, wallet, &session, start, Timings::default(), on_event).await
}

/// The session key of `wallet`'s `request` with the server's posted key.
pub fn request_session_key(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    server_key: [u8; 32],
) -> Result<SessionKey, EnvelopeError> {
    let signature = wallet_signature(wallet)?;
    let (_, key) = client_session(
        &signature,
        &PublicKey::from(server_key),
        &chain.key_context(request),
    )?;
    Ok(key)
}

/// The session key of `wallet`'s `request` with the server's posted key, and the sealed
/// prompt opened with it (for reading a request back from the ledger).
pub fn open_sealed_prompt(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    server_key: [u8; 32],
    sealed: &[u8],
) -> Result<(SessionKey, PromptEnvelope), EnvelopeError> {
    let key = request_session_key(chain, wallet, request, server_key)?;
    Ok((key, open_prompt(sealed, &key, &chain.key_context(request))?))
}

/// Follows the answer to its end (or expires the request past its deadline) and reads the
/// bill.
async fn receive(
    chain: &Chain,
    wallet: &Keypair,
    session: &Session,
    start: Instant,
    mut timings: Timings,
    mut on_event: impl FnMut(AskEvent),
) -> Result<Answered, AskError> {
    let request = session.request;
    let context = chain.key_context(&request);
    let mut opener = AnswerOpener::new(session.key, context, session.compression)?
        .with_token_limit(session.terms.max_output_tokens);
    let mut failure = None;
    // Claims are checked on the whole answer (crate::claims says why not per batch).
    let mut claims = ClaimTally::new(session.allowance);
    let mut show = |chunks: &[Chunk], ends_batch: bool| -> Result<(), String> {
        for chunk in chunks {
            let text = opener.open(chunk).map_err(|error| {
                let message = error.to_string();
                failure = Some(error);
                message
            })?;
            claims.chunk(chunk.tokens, &text);
            if timings.first_text.is_zero() {
                timings.first_text = start.elapsed();
            }
            if !text.is_empty() {
                on_event(AskEvent::Text(text));
            }
        }
        if ends_batch {
            claims.end_batch();
        }
        Ok(())
    };
    let answer = async {
        match session.terms.delivery {
            Delivery::Chain => {
                follow_answer(chain, &request, session.terms.max_output_tokens, |batch| {
                    show(&chunks_of(&batch), true)
                })
                .await?;
            }
            Delivery::Direct => {
                receive_directly(chain, wallet, session, &mut show).await?;
            }
        }
        timings.answered = start.elapsed();
        wait_for_settlement(chain, &request).await
    };
    let settled = tokio::select! {
        settled = answer => settled,
        expired = expire_after(chain, wallet, &request, session.deadline) => Err(expired),
    };
    let settled = settled.map_err(|error| match (failure.take(), error) {
        (Some(answer), AskError::Follow(_)) => AskError::Answer(answer),
        (_, error) => error,
    })?;
    let overclaimed = match claims.check() {
        Err(overclaim) => {
            on_event(AskEvent::Overclaimed(overclaim));
            Some(Overclaimed {
                overclaim,
                flag: flag_overclaim(chain, wallet, &request, &settled).await,
            })
        }
        Ok(()) => None,
    };
    Ok(Answered {
        request,
        operator: settled.lock.operator,
        prompt_tokens: settled.terms.prompt_tokens,
        answer_tokens: settled.settlement.tokens,
        batches: settled.response.leaves,
        finish: opener.finish_reason(),
        bill: settled.settlement.bill,
        fee: settled.settlement.fee,
        refund: settled.stake.saturating_sub(settled.settlement.bill),
        timings,
        overclaimed,
    })
}

/// Flags the completed `request` (whose account is `settled`) for claiming more tokens than its
/// text holds, unless it is flagged already.
async fn flag_overclaim(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    settled: &Request,
) -> FlagOutcome {
    if settled.flagged {
        return FlagOutcome::AlreadyFlagged;
    }
    match chain
        .send(&[flag_response(request, settled)], wallet, &[])
        .await
    {
        Ok(_) => FlagOutcome::Flagged,
        Err(error) if error.refused() == Some(ChainferenceError::AlreadyFlagged) => {
            FlagOutcome::AlreadyFlagged
        }
        Err(error) => FlagOutcome::Failed(error.to_string()),
    }
}

/// Receives a direct answer from the locking server's endpoint, showing each chunk as it
/// arrives and saving each batch as it closes in the session's answers directory.
async fn receive_directly(
    chain: &Chain,
    wallet: &Keypair,
    session: &Session,
    show: &mut impl FnMut(&[Chunk], bool) -> Result<(), String>,
) -> Result<(), AskError> {
    let server: Option<Server> = chain.account(&session.server, "Server").await?;
    let endpoint = server
        .map(|server| server.endpoint)
        .filter(|endpoint| !endpoint.is_empty())
        .ok_or(AskError::NoEndpoint(session.server))?;
    let path = session
        .answers_dir
        .as_deref()
        .map(|dir| SavedAnswer::path_in(dir, &session.request));
    let mut saved = SavedAnswer::new(&session.request);
    let mut save_failure = None;
    let received = receive_direct(
        chain,
        wallet,
        &session.request,
        &endpoint,
        session.terms.max_output_tokens,
        |received| match received {
            Received::Chunks(chunks) => show(chunks, false),
            Received::Batch(batch) => {
                show(&[], true)?;
                saved.batches.push(batch.clone());
                let Some(path) = &path else {
                    return Ok(());
                };
                saved.write(path).map_err(|error| {
                    let reason = error.to_string();
                    save_failure = Some(AskError::Save {
                        path: path.display().to_string(),
                        reason: reason.clone(),
                    });
                    reason
                })
            }
        },
    )
    .await;
    match (received, save_failure) {
        (Err(_), Some(failure)) => Err(failure),
        (received, _) => received.map(|_| ()).map_err(AskError::from),
    }
}

/// Waits until `request` is locked; past its lock deadline, expires it (the stake comes back)
/// and fails.
async fn wait_for_lock(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
) -> Result<Request, AskError> {
    loop {
        let account: Option<Request> = chain.account(request, "Request").await?;
        let Some(account) = account else {
            return Err(AskError::Closed(*request));
        };
        if account.state != RequestState::Open {
            return Ok(account);
        }
        let deadline = account.created_at + i64::from(account.lock_window_secs);
        if chain.now().await? > deadline {
            match chain
                .send(&[expire_request(request, &account)], wallet, &[])
                .await
            {
                Ok(_) => return Err(AskError::NoServer),
                // Locked in the last moment: go on with it.
                Err(error) if error.refused() == Some(ChainferenceError::NotExpired) => {}
                Err(error) => return Err(error.into()),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Once the chain's clock passes `deadline` with the answer unsettled, expires `request`:
/// stake and bond come to the client. Never returns while the request is being settled.
async fn expire_after(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    deadline: i64,
) -> AskError {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = match chain.now().await {
            Ok(now) => now,
            Err(error) => return error.into(),
        };
        if now <= deadline {
            continue;
        }
        let account: Option<Request> = match chain.account(request, "Request").await {
            Ok(account) => account,
            Err(error) => return error.into(),
        };
        let Some(account) = account.filter(|account| account.state != RequestState::Completed)
        else {
            continue;
        };
        match chain
            .send(&[expire_request(request, &account)], wallet, &[])
            .await
        {
            Ok(_) => {
                return AskError::Unfinished {
                    request: *request,
                    bond: account.lock.bond,
                }
            }
            Err(error) if error.refused() == Some(ChainferenceError::NotExpired) => {}
            Err(error) => return error.into(),
        }
    }
}

/// Waits until the server has claimed payment for `request`.
async fn wait_for_settlement(chain: &Chain, request: &Pubkey) -> Result<Request, AskError> {
    loop {
        let account: Option<Request> = chain.account(request, "Request").await?;
        match account {
            None => return Err(AskError::Closed(*request)),
            Some(account) if account.state == RequestState::Completed => return Ok(account),
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}
