//! The permanent record of a finished request: a Light compressed account that
//! `close_request` writes before the Request account and its rent go (design §2). It costs no
//! rent; its data lives in the closing transaction and its hash in a Light state tree.

use super::{Delivery, Request};
use anchor_lang::prelude::*;
use light_sdk::LightDiscriminator;

/// What a finished request was and did, as `close_request` writes it into a Light state tree
/// (owner: this program; no address; data hashed with SHA-256).
#[derive(
    AnchorSerialize, AnchorDeserialize, LightDiscriminator, Clone, Debug, Default, PartialEq, Eq,
)]
pub struct Receipt {
    /// The closed request's address.
    pub request: Pubkey,
    /// The client's wallet.
    pub client: Pubkey,
    /// The request's nonce under the client.
    pub nonce: u64,
    /// The Server account that answered.
    pub server: Pubkey,
    /// The server's response tree that holds the answer's leaves.
    pub tree: Pubkey,
    /// The Hugging Face model id asked for.
    pub model: String,
    /// How the answer was delivered.
    pub delivery: Delivery,
    /// Prompt tokens the client declared.
    pub prompt_tokens: u32,
    /// Answer tokens billed.
    pub answer_tokens: u32,
    /// Lamports billed.
    pub bill: u64,
    /// The protocol fee out of the bill.
    pub fee: u64,
    /// The hash chain over the answer's leaves.
    pub chain: [u8; 32],
    /// Leaves the answer took.
    pub leaves: u32,
    /// Unix time of completion.
    pub completed_at: i64,
    /// The client flagged the answer.
    pub flagged: bool,
    /// The answer was used in a comparison.
    pub compared: bool,
}

impl Receipt {
    /// The receipt of the completed request at `address`.
    pub fn of(address: Pubkey, request: &Request) -> Self {
        Self {
            request: address,
            client: request.client,
            nonce: request.nonce,
            server: request.lock.server,
            tree: request.lock.tree,
            model: request.terms.model.clone(),
            delivery: request.terms.delivery,
            prompt_tokens: request.terms.prompt_tokens,
            answer_tokens: request.settlement.tokens,
            bill: request.settlement.bill,
            fee: request.settlement.fee,
            chain: request.response.chain,
            leaves: request.response.leaves,
            completed_at: request.settlement.completed_at,
            flagged: request.flagged,
            compared: request.compared,
        }
    }
}
