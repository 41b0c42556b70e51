use crate::{constants::*, error::ChainferenceError, state::*};
use anchor_lang::prelude::*;
use chainference_prover::core::extend_prompt_hash;

/// Accounts of `submit_prompt`.
#[derive(Accounts)]
pub struct SubmitPrompt<'info> {
    /// The request's client.
    pub client: Signer<'info>,
    /// The locked request.
    #[account(mut, has_one = client @ ChainferenceError::NotRequestClient)]
    pub request: Box<Account<'info, Request>>,
}

/// Adds one encrypted prompt chunk (the instruction data is its record); `seal` makes the
/// request ready for the answer, if the sealed size fits the declared prompt tokens.
pub fn handle_submit_prompt(
    ctx: Context<SubmitPrompt>,
    ciphertext: Vec<u8>,
    seal: bool,
) -> Result<()> {
    let request = &mut ctx.accounts.request;
    require!(
        request.state == RequestState::Locked,
        ChainferenceError::RequestNotLocked
    );
    let now = super::now()?;
    require!(
        now <= request.prompt_deadline()?,
        ChainferenceError::PromptWindowClosed
    );
    // Unreachable while the time limit outlasts the prompt window (create_request sees to
    // it); kept so that no later change can let a prompt arrive after its answer was due.
    require!(
        now <= request.deadline()?,
        ChainferenceError::AnswerDeadlinePassed
    );
    require!(
        (1..=MAX_PROMPT_CHUNK_LEN).contains(&ciphertext.len()),
        ChainferenceError::InvalidPromptChunk
    );
    let bytes = request.prompt.bytes + ciphertext.len() as u32; // both ≤ 256 KiB + 1 KiB
    require!(bytes <= MAX_PROMPT_LEN, ChainferenceError::PromptTooLarge);
    request.prompt.bytes = bytes;
    request.prompt.hash = extend_prompt_hash(&request.prompt.hash, &ciphertext);
    if seal {
        require!(
            request.terms.prompt_tokens >= min_prompt_tokens(bytes),
            ChainferenceError::PromptTokensUnderstated
        );
        request.state = RequestState::Ready;
    }
    Ok(())
}
