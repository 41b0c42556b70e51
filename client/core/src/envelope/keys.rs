//! Per-request keys: the client's from a wallet signature, the server's from its operator key,
//! and the session key they agree on.

use super::EnvelopeError;
use hkdf::Hkdf;
use sha2::Sha256;
use solana_offchain_message::OffchainMessage;
use x25519_dalek::{PublicKey, StaticSecret};

/// The fixed text every wallet signs to derive its encryption keys.
pub const KEY_MESSAGE: &str = "Chainference encryption key v1";

/// What binds a key to one request on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyContext {
    /// The cluster's genesis hash (devnet and mainnet never share keys).
    pub genesis_hash: [u8; 32],
    /// The Chainference program id.
    pub program_id: [u8; 32],
    /// The request account.
    pub request: [u8; 32],
}

impl KeyContext {
    /// `genesis hash ‖ program id ‖ request`.
    pub fn bytes(&self) -> [u8; 96] {
        let mut bytes = [0u8; 96];
        bytes[..32].copy_from_slice(&self.genesis_hash);
        bytes[32..64].copy_from_slice(&self.program_id);
        bytes[64..].copy_from_slice(&self.request);
        bytes
    }
}

/// The Solana off-chain message (version 0) carrying [`KEY_MESSAGE`]: the bytes a wallet signs.
pub fn key_message() -> Result<Vec<u8>, EnvelopeError> {
    OffchainMessage::new(0, KEY_MESSAGE.as_bytes())
        .and_then(|message| message.serialize())
        .map_err(|_| EnvelopeError::OffchainMessage)
}

/// A wallet's signature of [`key_message`], checked to be deterministic.
#[derive(Clone, Copy)]
pub struct ClientSignature([u8; 64]);

impl ClientSignature {
    /// Takes two signatures of the key message by the same wallet and refuses them if they
    /// differ (ed25519 signing is deterministic; a wallet that is not would lose its keys).
    pub fn from_two(first: [u8; 64], second: [u8; 64]) -> Result<Self, EnvelopeError> {
        if first == second {
            Ok(Self(first))
        } else {
            Err(EnvelopeError::UnstableSignature)
        }
    }
}

/// The client's per-request x25519 secret: HKDF-SHA256 of the wallet's signature, bound to the
/// cluster, program and request. The wallet alone recovers it, so history decrypts from chain
/// data.
pub fn client_secret(signature: &ClientSignature, context: &KeyContext) -> StaticSecret {
    StaticSecret::from(expand(
        b"chainference:client-key:v1",
        &signature.0,
        &context.bytes(),
    ))
}

/// The server's per-request x25519 secret, from the 32-byte seed of its operator key and the
/// request, so a restarted server derives it again.
pub fn server_secret(operator_seed: &[u8; 32], context: &KeyContext) -> StaticSecret {
    StaticSecret::from(expand(
        b"chainference:server-key:v1",
        operator_seed,
        &context.bytes(),
    ))
}

/// The symmetric key of one request's prompt and answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionKey(pub(crate) [u8; 32]);

impl SessionKey {
    /// The key's bytes, to disclose one request's prompt and answer (and nothing else: every
    /// request has its own key) to an auditor.
    pub fn disclose(&self) -> [u8; 32] {
        self.0
    }

    /// A key [disclosed](Self::disclose) for one request.
    pub fn from_disclosed(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(…)")
    }
}

/// The session key both sides derive: HKDF-SHA256 of the x25519 shared secret, bound to the
/// request and both public keys. `client_public` and `server_public` are in that order on both
/// sides.
pub fn session_key(
    own_secret: &StaticSecret,
    peer_public: &PublicKey,
    client_public: &PublicKey,
    server_public: &PublicKey,
    context: &KeyContext,
) -> Result<SessionKey, EnvelopeError> {
    let shared = own_secret.diffie_hellman(peer_public);
    if !shared.was_contributory() {
        return Err(EnvelopeError::WeakPeerKey);
    }
    let mut info = Vec::with_capacity(160);
    info.extend_from_slice(&context.bytes());
    info.extend_from_slice(client_public.as_bytes());
    info.extend_from_slice(server_public.as_bytes());
    Ok(SessionKey(expand(
        b"chainference:session:v1",
        shared.as_bytes(),
        &info,
    )))
}

/// The server's per-request public key, which it posts with its lock.
pub fn server_public_key(operator_seed: &[u8; 32], context: &KeyContext) -> PublicKey {
    PublicKey::from(&server_secret(operator_seed, context))
}

/// The client's side: its per-request public key (sent at the head of the sealed prompt) and
/// the session key with the server's posted `server_public`.
pub fn client_session(
    signature: &ClientSignature,
    server_public: &PublicKey,
    context: &KeyContext,
) -> Result<(PublicKey, SessionKey), EnvelopeError> {
    let secret = client_secret(signature, context);
    let public = PublicKey::from(&secret);
    let key = session_key(&secret, server_public, &public, server_public, context)?;
    Ok((public, key))
}

/// The server's side: its per-request public key and the session key with the client whose
/// `client_public` heads the sealed prompt.
pub fn server_session(
    operator_seed: &[u8; 32],
    client_public: &PublicKey,
    context: &KeyContext,
) -> Result<(PublicKey, SessionKey), EnvelopeError> {
    let secret = server_secret(operator_seed, context);
    let public = PublicKey::from(&secret);
    let key = session_key(&secret, client_public, client_public, &public, context)?;
    Ok((public, key))
}

fn expand(salt: &[u8], secret: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 8,160.
    let _ = Hkdf::<Sha256>::new(Some(salt), secret).expand(info, &mut key);
    key
}

/// Whether `lock`'s per-request key carries its operator's signature in `scope`, and that
/// operator is one of `allowed` (when the request names any): checked before the prompt is
/// sealed to the key, so an RPC that lies about the lock cannot have the prompt sealed to a key
/// of its own (design §5).
pub fn server_key_is_signed(
    lock: &chainference::state::Lock,
    scope: &chainference_prover::core::Scope,
    allowed: &[anchor_lang::prelude::Pubkey],
) -> bool {
    let allowed = allowed.is_empty() || allowed.contains(&lock.operator);
    allowed
        && solana_signature::Signature::from(lock.key_signature).verify(
            &lock.operator.to_bytes(),
            &scope.key_message(&lock.server_key),
        )
}
