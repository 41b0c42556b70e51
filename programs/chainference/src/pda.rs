//! The program-derived addresses, for clients (each derivation costs up to 255 hash tries: on
//! chain, handlers take accounts whose addresses Anchor has already checked).

use crate::constants::*;
use anchor_lang::prelude::Pubkey;

/// The config PDA.
pub fn config_address() -> Pubkey {
    Pubkey::find_program_address(&[CONFIG_SEED], &crate::ID).0
}

/// The fee treasury PDA.
pub fn treasury_address() -> Pubkey {
    Pubkey::find_program_address(&[TREASURY_SEED], &crate::ID).0
}

/// The server PDA of `operator`.
pub fn server_address(operator: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[SERVER_SEED, operator.as_ref()], &crate::ID).0
}

/// The request counter PDA of `client`.
pub fn client_address(client: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[CLIENT_SEED, client.as_ref()], &crate::ID).0
}

/// The request PDA of `client`'s `nonce`.
pub fn request_address(client: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[REQUEST_SEED, client.as_ref(), &nonce.to_le_bytes()],
        &crate::ID,
    )
    .0
}
