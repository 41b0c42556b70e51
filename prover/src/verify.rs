//! Offline verification of a transcript bundle: every chunk against its batch, every leaf
//! against its proof and change-log root and the hash chain, the sequence whole and final, and
//! the bill equal to what the posted tokens cost within the request's caps (for a directly
//! delivered answer, the tokens of the client's acknowledgement, whose signature and position
//! in the transcript are checked).
//!
//! What only the chain can confirm is not checked here: that the roots, signatures and slots
//! are those of real transactions, and that the terms (model, prices, prompt tokens, stake,
//! fee) and the chain are the Request account's. `chainference audit --check-chain` does that.

use crate::bundle::{Bundle, BundleAck, BUNDLE_FORMAT, BUNDLE_VERSION};
use crate::core::{bill_for, fee_for, root_from_proof, BatchRuleError, ResponseCursor, Scope};

/// What a bundle proves once verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Chunks delivered.
    pub chunks: u32,
    /// Batches (leaves) delivered.
    pub batches: u32,
    /// Answer tokens billed: those posted, or a direct answer's acknowledged ones.
    pub answer_tokens: u32,
    /// Lamports billed.
    pub bill: u64,
}

/// The first thing found wrong with a bundle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a bundle this version can read.
    #[error("not a {BUNDLE_FORMAT} bundle of version {BUNDLE_VERSION} (found {format} version {version})")]
    UnsupportedFormat {
        /// The bundle's format field.
        format: String,
        /// The bundle's version.
        version: u32,
    },
    /// A batch breaks the rules an append follows.
    #[error("batch {batch}: {rule}")]
    BatchRule {
        /// The batch's position in the bundle.
        batch: usize,
        /// The rule broken.
        rule: BatchRuleError,
    },
    /// A batch's leaf does not prove against the root of its change-log event.
    #[error("batch {batch}: its leaf does not prove against its change-log root (leaf index {leaf_index})")]
    LeafNotInRoot {
        /// The batch's position in the bundle.
        batch: usize,
        /// The leaf index the batch claims.
        leaf_index: u32,
    },
    /// Leaf indices do not increase from batch to batch.
    #[error("batch {batch}: leaf index {leaf_index} does not follow the previous batch's")]
    LeafOrder {
        /// The batch's position in the bundle.
        batch: usize,
        /// The leaf index the batch claims.
        leaf_index: u32,
    },
    /// The recomputed hash chain is not the request's.
    #[error("the hash chain over the leaves is not the request's")]
    ChainMismatch,
    /// A direct answer's roots went on chain without the client's acknowledgement of them.
    #[error("roots of a direct answer are on chain but no acknowledgement of them was billed on")]
    AcknowledgementMissing,
    /// The answer has no final chunk.
    #[error("the transcript has no final chunk: the answer is cut short")]
    FinalChunkMissing,
    /// The acknowledgement is not the client's signature.
    #[error("the acknowledgement is not signed by the request's client")]
    AcknowledgementForged,
    /// The acknowledgement does not name the transcript's end.
    #[error("the acknowledgement ({tokens} tokens to chunk {next_seq}) is not where the transcript ends")]
    AcknowledgementOffTranscript {
        /// Its sequence number.
        next_seq: u32,
        /// Its tokens.
        tokens: u32,
    },
    /// The billed tokens are not the tokens posted.
    #[error("{billed} answer tokens billed but {posted} posted")]
    TokensMismatch {
        /// Tokens in the settlement.
        billed: u32,
        /// Tokens in the chunks.
        posted: u32,
    },
    /// The bill is not what the posted tokens cost at the locked prices, capped by the stake.
    #[error("bill of {claimed} lamports, but the posted tokens cost {expected}")]
    BillMismatch {
        /// The settlement's bill.
        claimed: u64,
        /// The bill recomputed.
        expected: u64,
    },
    /// The fee is not the locked share of the bill.
    #[error("fee of {claimed} lamports, but {expected} is the locked share of the bill")]
    FeeMismatch {
        /// The settlement's fee.
        claimed: u64,
        /// The fee recomputed.
        expected: u64,
    },
}

/// Verifies `bundle` offline.
pub fn verify(bundle: &Bundle) -> Result<Verified, VerifyError> {
    if bundle.format != BUNDLE_FORMAT || bundle.version != BUNDLE_VERSION {
        return Err(VerifyError::UnsupportedFormat {
            format: bundle.format.clone(),
            version: bundle.version,
        });
    }
    let terms = &bundle.terms;
    let mut cursor = ResponseCursor::new();
    let mut chunks = 0u32;
    let mut previous_leaf: Option<u32> = None;
    for (batch, posted) in bundle.batches.iter().enumerate() {
        let views: Vec<_> = posted.chunks.iter().map(|chunk| chunk.as_ref()).collect();
        let applied = if terms.direct {
            cursor.apply_direct(&bundle.request, terms.max_output_tokens, &views)
        } else {
            cursor.apply(&bundle.request, terms.max_output_tokens, &views)
        }
        .map_err(|rule| VerifyError::BatchRule { batch, rule })?;
        if previous_leaf.is_some_and(|previous| posted.leaf_index <= previous) {
            return Err(VerifyError::LeafOrder {
                batch,
                leaf_index: posted.leaf_index,
            });
        }
        previous_leaf = Some(posted.leaf_index);
        if root_from_proof(&applied.leaf, posted.leaf_index, &posted.proof) != posted.root {
            return Err(VerifyError::LeafNotInRoot {
                batch,
                leaf_index: posted.leaf_index,
            });
        }
        chunks += views.len() as u32;
    }
    if cursor.chain != bundle.chain {
        return Err(VerifyError::ChainMismatch);
    }
    let billable = match &bundle.acknowledgement {
        Some(signed) => acknowledged_tokens(bundle, signed, &cursor)?,
        // A direct answer nobody acknowledged bills the prompt alone, and has no roots.
        None if terms.direct && cursor.leaves == 0 => 0,
        None if terms.direct => return Err(VerifyError::AcknowledgementMissing),
        None if !cursor.finished => return Err(VerifyError::FinalChunkMissing),
        None => cursor.tokens,
    };
    let settled = bundle.settlement;
    if settled.answer_tokens != billable {
        return Err(VerifyError::TokensMismatch {
            billed: settled.answer_tokens,
            posted: billable,
        });
    }
    let expected = bill_for(
        terms.prompt_tokens,
        terms.input_price,
        billable,
        terms.output_price,
    )
    .map_or(terms.stake, |bill| bill.min(terms.stake));
    if settled.bill != expected {
        return Err(VerifyError::BillMismatch {
            claimed: settled.bill,
            expected,
        });
    }
    let fee = fee_for(expected, terms.fee_bps);
    if settled.fee != fee {
        return Err(VerifyError::FeeMismatch {
            claimed: settled.fee,
            expected: fee,
        });
    }
    Ok(Verified {
        chunks,
        batches: cursor.leaves,
        answer_tokens: billable,
        bill: expected,
    })
}

/// The tokens a direct answer may bill: those of a genuine acknowledgement by the client, in
/// this bundle's program, cluster and request, of exactly the transcript (`end`), so the roots
/// on chain commit to exactly what was billed.
fn acknowledged_tokens(
    bundle: &Bundle,
    signed: &BundleAck,
    end: &ResponseCursor,
) -> Result<u32, VerifyError> {
    let scope = Scope {
        program: bundle.program_id,
        cluster: bundle.genesis_hash,
        request: bundle.request,
    };
    let message = signed.ack().message(&scope);
    let genuine = ed25519_dalek::VerifyingKey::from_bytes(&bundle.client).is_ok_and(|key| {
        key.verify_strict(
            &message,
            &ed25519_dalek::Signature::from_bytes(&signed.signature),
        )
        .is_ok()
    });
    if !genuine {
        return Err(VerifyError::AcknowledgementForged);
    }
    if (end.next_seq, end.tokens, end.chain) != (signed.next_seq, signed.tokens, signed.chain) {
        return Err(VerifyError::AcknowledgementOffTranscript {
            next_seq: signed.next_seq,
            tokens: signed.tokens,
        });
    }
    Ok(signed.tokens)
}
