//! The rules a batch must follow to continue an answer, and the state they advance: one
//! definition, applied by the program to every `append_batch` and by the provider, the client
//! and auditors to their copies of the answer.

use super::{batch_leaf, batch_root, chunk_hash, extend_chain, BatchError, ChunkRef, Hash};
use super::{EMPTY_CHAIN, MAX_BATCH_CHUNKS, MAX_DIRECT_BATCH_CHUNKS};
use alloc::vec::Vec;

/// Most ciphertext bytes of one answer chunk.
pub const MAX_CHUNK_LEN: usize = 1_024;

/// Where an answer stands after the batches applied so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseCursor {
    /// Sequence number the next chunk must carry.
    pub next_seq: u32,
    /// Answer tokens posted.
    pub tokens: u32,
    /// Leaves (batches) appended.
    pub leaves: u32,
    /// `keccak256(chain ‖ leaf)` over every leaf so far.
    pub chain: Hash,
    /// The final chunk was posted.
    pub finished: bool,
}

/// What one batch appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedBatch {
    /// The batch root.
    pub root: Hash,
    /// The leaf appended to the tree.
    pub leaf: Hash,
}

/// A batch delivered off chain (direct delivery), as its root goes on chain: the program sees
/// only this, the client checks the chunks themselves with [`ResponseCursor::apply`] and the
/// claim they give ([`RootClaim::between`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootClaim {
    /// The batch's first sequence number.
    pub first_seq: u32,
    /// Its chunks.
    pub count: u32,
    /// Answer tokens its chunks carry.
    pub tokens: u32,
    /// Its last chunk is the answer's final one.
    pub finished: bool,
    /// Its root over the chunk hashes.
    pub root: Hash,
}

impl RootClaim {
    /// The claim of the one batch that took the answer from `before` to `after` with `root`.
    pub fn between(before: &ResponseCursor, after: &ResponseCursor, root: Hash) -> Self {
        Self {
            first_seq: before.next_seq,
            count: after.next_seq.saturating_sub(before.next_seq),
            tokens: after.tokens.saturating_sub(before.tokens),
            finished: after.finished,
            root,
        }
    }
}

/// Why a batch cannot continue an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchRuleError {
    /// A batch must hold at least one chunk.
    Empty,
    /// A batch holds more chunks than its delivery allows ([`MAX_BATCH_CHUNKS`] on chain,
    /// [`MAX_DIRECT_BATCH_CHUNKS`] direct).
    TooManyChunks {
        /// The most its delivery allows.
        limit: usize,
    },
    /// The answer's final chunk was already posted.
    ChunkAfterFinal,
    /// A chunk's sequence number is not the next one.
    SequenceMismatch {
        /// The sequence number the chunk had to carry.
        expected: u32,
        /// The one it carried.
        found: u32,
    },
    /// A chunk's ciphertext is over [`MAX_CHUNK_LEN`].
    ChunkTooLarge {
        /// The chunk's sequence number.
        seq: u32,
    },
    /// A final chunk is not the last of its batch.
    FinalNotLast {
        /// The chunk's sequence number.
        seq: u32,
    },
    /// The answer would carry more tokens than the request allows.
    TokensOverLimit {
        /// The request's `max_output_tokens`.
        limit: u32,
    },
}

impl core::fmt::Display for BatchRuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => write!(f, "a batch must hold at least one chunk"),
            Self::TooManyChunks { limit } => write!(f, "a batch may hold at most {limit} chunks"),
            Self::ChunkAfterFinal => write!(f, "a chunk follows the answer's final chunk"),
            Self::SequenceMismatch { expected, found } => {
                write!(f, "chunk {found} where chunk {expected} was due (a gap, a repeat or a reordering)")
            }
            Self::ChunkTooLarge { seq } => write!(f, "chunk {seq} is over {MAX_CHUNK_LEN} bytes"),
            Self::FinalNotLast { seq } => {
                write!(f, "final chunk {seq} is not the last of its batch")
            }
            Self::TokensOverLimit { limit } => {
                write!(f, "the answer carries more than its {limit} tokens")
            }
        }
    }
}

/// Checks `chunk` may come next in its batch: `expected` the sequence number due (`None`
/// past `u32::MAX`), `tokens` the answer's tokens before it, `last` whether it ends its batch;
/// returns the answer's tokens with it. [`ResponseCursor::apply`] checks every chunk of a batch
/// with it, and a direct client each chunk as it arrives, before its batch closes.
pub fn check_chunk(
    expected: Option<u32>,
    tokens: u32,
    max_output_tokens: u32,
    chunk: &ChunkRef<'_>,
    last: bool,
) -> Result<u32, BatchRuleError> {
    if expected != Some(chunk.seq) {
        return Err(BatchRuleError::SequenceMismatch {
            expected: expected.unwrap_or(u32::MAX),
            found: chunk.seq,
        });
    }
    if chunk.ciphertext.len() > MAX_CHUNK_LEN {
        return Err(BatchRuleError::ChunkTooLarge { seq: chunk.seq });
    }
    if chunk.is_final && !last {
        return Err(BatchRuleError::FinalNotLast { seq: chunk.seq });
    }
    tokens
        .checked_add(u32::from(chunk.tokens))
        .filter(|total| *total <= max_output_tokens)
        .ok_or(BatchRuleError::TokensOverLimit {
            limit: max_output_tokens,
        })
}

impl ResponseCursor {
    /// The cursor of an answer with no chunk yet.
    pub const fn new() -> Self {
        Self {
            next_seq: 0,
            tokens: 0,
            leaves: 0,
            chain: EMPTY_CHAIN,
            finished: false,
        }
    }

    /// Checks `chunks`, a batch delivered on chain, continue the answer of `request` within
    /// `max_output_tokens` and, if so, advances the cursor and returns the batch's root and
    /// leaf. On error the cursor is unchanged.
    pub fn apply(
        &mut self,
        request: &[u8; 32],
        max_output_tokens: u32,
        chunks: &[ChunkRef<'_>],
    ) -> Result<AppliedBatch, BatchRuleError> {
        self.apply_within(MAX_BATCH_CHUNKS, request, max_output_tokens, chunks)
    }

    /// [`Self::apply`] for a directly delivered batch, which may hold up to
    /// [`MAX_DIRECT_BATCH_CHUNKS`] chunks (the program sees only its root).
    pub fn apply_direct(
        &mut self,
        request: &[u8; 32],
        max_output_tokens: u32,
        chunks: &[ChunkRef<'_>],
    ) -> Result<AppliedBatch, BatchRuleError> {
        self.apply_within(MAX_DIRECT_BATCH_CHUNKS, request, max_output_tokens, chunks)
    }

    /// [`Self::apply`] with batches of at most `limit` chunks.
    fn apply_within(
        &mut self,
        limit: usize,
        request: &[u8; 32],
        max_output_tokens: u32,
        chunks: &[ChunkRef<'_>],
    ) -> Result<AppliedBatch, BatchRuleError> {
        if chunks.is_empty() {
            return Err(BatchRuleError::Empty);
        }
        if chunks.len() > limit {
            return Err(BatchRuleError::TooManyChunks { limit });
        }
        if self.finished {
            return Err(BatchRuleError::ChunkAfterFinal);
        }
        let mut tokens = self.tokens;
        let mut hashes = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let expected = self.next_seq.checked_add(i as u32);
            tokens = check_chunk(
                expected,
                tokens,
                max_output_tokens,
                chunk,
                i + 1 == chunks.len(),
            )?;
            hashes.push(chunk_hash(request, chunk));
        }
        let root = batch_root(&hashes).map_err(|error| match error {
            BatchError::Empty => BatchRuleError::Empty,
            BatchError::TooManyChunks => BatchRuleError::TooManyChunks { limit },
        })?;
        let count = chunks.len() as u32; // ≤ MAX_DIRECT_BATCH_CHUNKS
        let leaf = self.advance(
            request,
            count,
            tokens,
            chunks[chunks.len() - 1].is_final,
            root,
        );
        Ok(AppliedBatch { root, leaf })
    }

    /// Checks a directly delivered batch's `claim` continues the answer within
    /// `max_output_tokens` (its chunks are not seen here) and, if so, advances the cursor and
    /// returns the leaf. On error the cursor is unchanged.
    pub fn apply_root(
        &mut self,
        request: &[u8; 32],
        max_output_tokens: u32,
        claim: &RootClaim,
    ) -> Result<Hash, BatchRuleError> {
        if claim.count == 0 {
            return Err(BatchRuleError::Empty);
        }
        if claim.count as usize > MAX_DIRECT_BATCH_CHUNKS {
            return Err(BatchRuleError::TooManyChunks {
                limit: MAX_DIRECT_BATCH_CHUNKS,
            });
        }
        if self.finished {
            return Err(BatchRuleError::ChunkAfterFinal);
        }
        if claim.first_seq != self.next_seq || self.next_seq.checked_add(claim.count).is_none() {
            return Err(BatchRuleError::SequenceMismatch {
                expected: self.next_seq,
                found: claim.first_seq,
            });
        }
        let tokens = self
            .tokens
            .checked_add(claim.tokens)
            .filter(|total| *total <= max_output_tokens)
            .ok_or(BatchRuleError::TokensOverLimit {
                limit: max_output_tokens,
            })?;
        Ok(self.advance(request, claim.count, tokens, claim.finished, claim.root))
    }

    /// Appends the leaf of a checked batch of `count` chunks: sequence, tokens, chain, end.
    fn advance(
        &mut self,
        request: &[u8; 32],
        count: u32,
        tokens: u32,
        finished: bool,
        root: Hash,
    ) -> Hash {
        let leaf = batch_leaf(request, self.next_seq, count, &root);
        self.next_seq += count; // checked by the caller to fit in u32
        self.tokens = tokens;
        self.leaves = self.leaves.saturating_add(1);
        self.chain = extend_chain(&self.chain, &leaf);
        self.finished = finished;
        leaf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NONCE_LEN;

    const NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

    fn chunk(seq: u32, is_final: bool) -> ChunkRef<'static> {
        ChunkRef {
            seq,
            tokens: 2,
            is_final,
            nonce: &NONCE,
            ciphertext: b"x",
        }
    }

    #[test]
    fn a_root_claim_advances_the_cursor_as_its_chunks_would() {
        let request = [4u8; 32];
        let chunks = [chunk(0, false), chunk(1, true)];
        let mut by_chunks = ResponseCursor::new();
        let applied = by_chunks.apply(&request, 10, &chunks).unwrap();
        let claim = RootClaim::between(&ResponseCursor::new(), &by_chunks, applied.root);
        assert_eq!((claim.count, claim.tokens, claim.finished), (2, 4, true));
        let mut by_root = ResponseCursor::new();
        assert_eq!(by_root.apply_root(&request, 10, &claim), Ok(applied.leaf));
        assert_eq!(by_root, by_chunks);
        // The same rules: after the final, out of sequence, over the limit, empty.
        assert_eq!(
            by_root.apply_root(&request, 10, &claim),
            Err(BatchRuleError::ChunkAfterFinal)
        );
        let mut fresh = ResponseCursor::new();
        let late = RootClaim {
            first_seq: 1,
            ..claim
        };
        assert!(matches!(
            fresh.apply_root(&request, 10, &late),
            Err(BatchRuleError::SequenceMismatch {
                expected: 0,
                found: 1
            })
        ));
        assert_eq!(
            fresh.apply_root(&request, 3, &claim),
            Err(BatchRuleError::TokensOverLimit { limit: 3 })
        );
        let empty = RootClaim { count: 0, ..claim };
        assert_eq!(
            fresh.apply_root(&request, 10, &empty),
            Err(BatchRuleError::Empty)
        );
        assert_eq!(fresh, ResponseCursor::new());
    }

    #[test]
    fn batches_advance_the_cursor_and_errors_leave_it_alone() {
        let request = [4u8; 32];
        let mut cursor = ResponseCursor::new();
        let first = cursor
            .apply(&request, 10, &[chunk(0, false), chunk(1, false)])
            .unwrap();
        assert_eq!((cursor.next_seq, cursor.tokens, cursor.leaves), (2, 4, 1));
        assert_eq!(cursor.chain, extend_chain(&EMPTY_CHAIN, &first.leaf));
        let before = cursor;
        assert_eq!(
            cursor.apply(&request, 10, &[chunk(3, false)]),
            Err(BatchRuleError::SequenceMismatch {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            cursor.apply(&request, 10, &[chunk(2, true), chunk(3, false)]),
            Err(BatchRuleError::FinalNotLast { seq: 2 })
        );
        assert_eq!(
            cursor.apply(&request, 5, &[chunk(2, false)]),
            Err(BatchRuleError::TokensOverLimit { limit: 5 })
        );
        assert_eq!(cursor.apply(&request, 10, &[]), Err(BatchRuleError::Empty));
        assert_eq!(cursor, before);
        cursor.apply(&request, 10, &[chunk(2, true)]).unwrap();
        assert!(cursor.finished);
        assert_eq!(
            cursor.apply(&request, 10, &[chunk(3, false)]),
            Err(BatchRuleError::ChunkAfterFinal)
        );
    }

    #[test]
    fn a_direct_batch_may_hold_more_chunks_than_one_on_chain() {
        let request = [4u8; 32];
        let batch = |count: usize| -> Vec<ChunkRef<'static>> {
            (0..count).map(|seq| chunk(seq as u32, false)).collect()
        };
        let mut cursor = ResponseCursor::new();
        assert_eq!(
            cursor.apply(&request, 100_000, &batch(MAX_BATCH_CHUNKS + 1)),
            Err(BatchRuleError::TooManyChunks {
                limit: MAX_BATCH_CHUNKS
            })
        );
        let applied = cursor
            .apply_direct(&request, 100_000, &batch(MAX_DIRECT_BATCH_CHUNKS))
            .expect("a full direct batch");
        let claim = RootClaim::between(&ResponseCursor::new(), &cursor, applied.root);
        assert_eq!(
            ResponseCursor::new().apply_root(&request, 100_000, &claim),
            Ok(applied.leaf)
        );
        let over = RootClaim {
            count: MAX_DIRECT_BATCH_CHUNKS as u32 + 1,
            ..claim
        };
        assert_eq!(
            ResponseCursor::new().apply_root(&request, 100_000, &over),
            Err(BatchRuleError::TooManyChunks {
                limit: MAX_DIRECT_BATCH_CHUNKS
            })
        );
        assert_eq!(
            ResponseCursor::new().apply_direct(
                &request,
                100_000,
                &batch(MAX_DIRECT_BATCH_CHUNKS + 1)
            ),
            Err(BatchRuleError::TooManyChunks {
                limit: MAX_DIRECT_BATCH_CHUNKS
            })
        );
    }
}
