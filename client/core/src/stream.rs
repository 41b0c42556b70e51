//! Answer batches from transaction logs, put back in order and checked before anything is
//! shown (design §7). Notifications are hints: batches may arrive late, twice or out of order,
//! and the caller backfills what [`StreamAssembler::missing`] names.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::{prelude::BASE64_STANDARD, Engine};
use chainference::events::ChunkBatch;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{BatchRuleError, ResponseCursor};
use std::collections::{BTreeMap, VecDeque};

/// How an event's line starts: `Program data: <base64>`, accepted only inside our program's own
/// top-level invocation.
const DATA: &str = "Program data: ";

/// The `ChunkBatch` events in one successful transaction's log.
pub fn chunk_batches(logs: &[String], program_id: &Pubkey) -> Vec<ChunkBatch> {
    program_events(logs, program_id)
}

/// The events of type `E` that `program_id` itself logged in one successful transaction.
pub fn program_events<E: AnchorDeserialize + Discriminator>(
    logs: &[String],
    program_id: &Pubkey,
) -> Vec<E> {
    let ours = program_id.to_string();
    let mut stack: Vec<&str> = Vec::new();
    let mut events = Vec::new();
    for line in logs {
        let data = line.strip_prefix(DATA).filter(|_| stack == [ours.as_str()]);
        if let Some(event) = data.and_then(decode) {
            events.push(event);
            continue;
        }
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        let mut words = rest.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some(program), Some("invoke"), Some(depth)) => {
                let depth = depth
                    .trim_matches(['[', ']'])
                    .parse::<usize>()
                    .unwrap_or(usize::MAX);
                stack.truncate(depth.saturating_sub(1));
                stack.push(program);
            }
            (Some(_), Some("success" | "failed:"), _) => {
                stack.pop();
            }
            _ => {}
        }
    }
    events
}

/// The batch's chunks in the prover's form (for opening and for bundles).
pub fn chunks_of(batch: &ChunkBatch) -> Vec<Chunk> {
    batch
        .chunks
        .iter()
        .map(|chunk| Chunk {
            seq: chunk.seq,
            tokens: chunk.tokens,
            is_final: chunk.is_final,
            nonce: chunk.nonce,
            ciphertext: chunk.ciphertext.clone(),
        })
        .collect()
}

fn decode<E: AnchorDeserialize + Discriminator>(data: &str) -> Option<E> {
    let bytes = BASE64_STANDARD.decode(data.trim()).ok()?;
    let body = bytes.strip_prefix(E::DISCRIMINATOR)?;
    E::try_from_slice(body).ok()
}

/// Why a batch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The batch belongs to another request.
    #[error("a batch of request {0}, not this one")]
    OtherRequest(Pubkey),
    /// The batch breaks the rules the program enforces: it did not come from the program.
    #[error("batch at chunk {first_seq}: {rule}")]
    BatchRule {
        /// Its first sequence number.
        first_seq: u32,
        /// The rule broken.
        rule: BatchRuleError,
    },
    /// The event's hash chain is not the one its chunks make.
    #[error("batch at chunk {0}: its hash chain does not follow from its chunks")]
    ChainMismatch(u32),
}

/// Puts one request's batches in order, drops duplicates, and checks each against the same
/// rules and hash chain as the program before giving it out.
pub struct StreamAssembler {
    request: Pubkey,
    max_output_tokens: u32,
    cursor: ResponseCursor,
    early: BTreeMap<u32, ChunkBatch>,
}

impl StreamAssembler {
    /// Assembles `request`'s answer from its first chunk.
    pub fn new(request: Pubkey, max_output_tokens: u32) -> Self {
        Self {
            request,
            max_output_tokens,
            cursor: ResponseCursor::new(),
            early: BTreeMap::new(),
        }
    }

    /// Where the answer stands: next sequence number, tokens, leaves, chain, finished.
    pub fn cursor(&self) -> &ResponseCursor {
        &self.cursor
    }

    /// The first sequence number not yet received, if a later batch is waiting for it (a gap
    /// to backfill).
    pub fn missing(&self) -> Option<u32> {
        (!self.early.is_empty()).then_some(self.cursor.next_seq)
    }

    /// Takes one batch, in any order; returns the batches that now continue the answer, checked,
    /// in order. Batches already given out are dropped.
    pub fn offer(&mut self, batch: ChunkBatch) -> Result<Vec<ChunkBatch>, StreamError> {
        Ok(self
            .offer_with_cursors(batch)?
            .into_iter()
            .map(|(batch, _)| batch)
            .collect())
    }

    /// [`StreamAssembler::offer`], with the answer's cursor after each batch given out.
    pub fn offer_with_cursors(
        &mut self,
        batch: ChunkBatch,
    ) -> Result<Vec<(ChunkBatch, ResponseCursor)>, StreamError> {
        if batch.request != self.request {
            return Err(StreamError::OtherRequest(batch.request));
        }
        if batch.first_seq < self.cursor.next_seq {
            return Ok(Vec::new());
        }
        self.early.insert(batch.first_seq, batch);
        let mut ready = Vec::new();
        while let Some(batch) = self.early.remove(&self.cursor.next_seq) {
            let views: Vec<_> = batch.chunks.iter().map(|chunk| chunk.as_ref()).collect();
            let mut next = self.cursor;
            next.apply(&self.request.to_bytes(), self.max_output_tokens, &views)
                .map_err(|rule| StreamError::BatchRule {
                    first_seq: batch.first_seq,
                    rule,
                })?;
            if next.chain != batch.chain {
                return Err(StreamError::ChainMismatch(batch.first_seq));
            }
            self.cursor = next;
            ready.push((batch, next));
        }
        Ok(ready)
    }
}

/// The request account's answer state differs from the batches received where they meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request account's answer state at chunk {next_seq} differs from the batches received: refusing them")]
pub struct ConfirmMismatch {
    /// The account's next sequence number.
    pub next_seq: u32,
}

/// Batches received and checked by the answer's rules, held until the request account shows
/// they landed (design §7: nothing is shown before): its response cursor (sequence, tokens,
/// leaves, hash chain, finished) must equal the cursor after one of them, which confirms that
/// batch and every one before it. Serves both chain delivery ([`crate::follow`]) and direct
/// delivery ([`crate::direct`]), which bounds how many it holds.
pub struct Unconfirmed<B> {
    /// Held batches with the answer's cursor after each, in order.
    held: VecDeque<(B, ResponseCursor)>,
    /// The cursor after the last batch received.
    received: ResponseCursor,
    /// The cursor after the last batch confirmed.
    confirmed: ResponseCursor,
}

impl<B> Default for Unconfirmed<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Unconfirmed<B> {
    /// Holds an answer's batches from its first chunk.
    pub fn new() -> Self {
        Self {
            held: VecDeque::new(),
            received: ResponseCursor::new(),
            confirmed: ResponseCursor::new(),
        }
    }

    /// The cursor after the last batch confirmed.
    pub fn confirmed(&self) -> &ResponseCursor {
        &self.confirmed
    }

    /// The cursor after the last batch received.
    pub fn received(&self) -> &ResponseCursor {
        &self.received
    }

    /// Batches held, waiting for the account.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether every batch received is confirmed.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds `batch`, which took the answer to `after` (checked by the answer's rules).
    pub fn hold(&mut self, batch: B, after: ResponseCursor) {
        self.held.push_back((batch, after));
        self.received = after;
    }

    /// Takes the request account's response cursor `posted` and gives out, in order, the
    /// batches it confirms. Roots past what was received are on their way (nothing is given
    /// out); a cursor that meets the batches received anywhere but at one's end with the same
    /// state is a [`ConfirmMismatch`].
    pub fn confirm(&mut self, posted: &ResponseCursor) -> Result<Vec<B>, ConfirmMismatch> {
        if posted.next_seq <= self.confirmed.next_seq {
            return Ok(Vec::new());
        }
        let boundary = self
            .held
            .iter()
            .position(|(_, after)| after.next_seq == posted.next_seq);
        match boundary {
            Some(index) if self.held[index].1 == *posted => {
                self.confirmed = *posted;
                Ok(self.held.drain(..=index).map(|(batch, _)| batch).collect())
            }
            None if posted.next_seq > self.received.next_seq => Ok(Vec::new()),
            _ => Err(ConfirmMismatch {
                next_seq: posted.next_seq,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Event;
    use chainference::events::Chunk as ProgramChunk;

    fn event(request: Pubkey) -> ChunkBatch {
        let chunks = vec![ProgramChunk {
            seq: 0,
            tokens: 1,
            is_final: true,
            nonce: [0; 24],
            ciphertext: vec![1, 2],
        }];
        let mut cursor = ResponseCursor::new();
        let views: Vec<_> = chunks.iter().map(ProgramChunk::as_ref).collect();
        cursor.apply(&request.to_bytes(), 10, &views).unwrap();
        ChunkBatch {
            request,
            tree: Pubkey::default(),
            leaf_index: 0,
            first_seq: 0,
            chunks,
            chain: cursor.chain,
            proof: vec![],
        }
    }

    fn line(event: &ChunkBatch) -> String {
        format!("Program data: {}", BASE64_STANDARD.encode(event.data()))
    }

    #[test]
    fn only_our_top_level_invocation_speaks_for_the_program() {
        let request = Pubkey::new_unique();
        let genuine = event(request);
        let ours = chainference::ID.to_string();
        let other = Pubkey::new_unique().to_string();
        let logs: Vec<String> = vec![
            format!("Program {other} invoke [1]"),
            line(&genuine), // another program's claim
            format!("Program {other} success"),
            format!("Program {ours} invoke [1]"),
            format!("Program {other} invoke [2]"),
            line(&genuine), // a program we invoked
            format!("Program {other} success"),
            line(&genuine), // ours
            format!("Program {ours} success"),
        ];
        assert_eq!(
            chunk_batches(&logs, &chainference::ID),
            vec![genuine.clone()]
        );
        // A line our program logs with `msg!` cannot pass for an event.
        let logged = vec![
            format!("Program {ours} invoke [1]"),
            format!("Program log: {}", line(&genuine)),
            format!("Program {ours} success"),
        ];
        assert!(chunk_batches(&logged, &chainference::ID).is_empty());
    }

    #[test]
    fn forged_and_foreign_batches_are_refused_and_the_cursor_stays() {
        let request = Pubkey::new_unique();
        let mut assembler = StreamAssembler::new(request, 10);
        let mut forged = event(request);
        forged.chain[0] ^= 1;
        assert_eq!(assembler.offer(forged), Err(StreamError::ChainMismatch(0)));
        let foreign = event(Pubkey::new_unique());
        assert!(matches!(
            assembler.offer(foreign),
            Err(StreamError::OtherRequest(_))
        ));
        assert_eq!(assembler.cursor(), &ResponseCursor::new());
        assert_eq!(assembler.offer(event(request)).unwrap().len(), 1);
        assert!(
            assembler.offer(event(request)).unwrap().is_empty(),
            "a repeat is dropped"
        );
    }

    #[test]
    fn held_batches_are_given_out_only_where_the_account_meets_them() {
        let a = ResponseCursor {
            next_seq: 2,
            tokens: 5,
            leaves: 1,
            chain: [1; 32],
            finished: false,
        };
        let b = ResponseCursor {
            next_seq: 5,
            tokens: 9,
            leaves: 2,
            chain: [2; 32],
            finished: true,
        };
        let mut held = Unconfirmed::new();
        held.hold("a", a);
        held.hold("b", b);
        assert_eq!(held.confirm(&ResponseCursor::new()), Ok(vec![]), "behind");
        let ahead = ResponseCursor { next_seq: 9, ..b };
        assert_eq!(held.confirm(&ahead), Ok(vec![]), "on its way");
        let forked = ResponseCursor {
            chain: [9; 32],
            ..a
        };
        assert_eq!(held.confirm(&forked), Err(ConfirmMismatch { next_seq: 2 }));
        let inside = ResponseCursor { next_seq: 3, ..a };
        assert_eq!(held.confirm(&inside), Err(ConfirmMismatch { next_seq: 3 }));
        assert_eq!(held.confirm(&a), Ok(vec!["a"]));
        assert_eq!((held.confirmed(), held.len()), (&a, 1));
        assert_eq!(held.confirm(&a), Ok(vec![]), "given out once");
        assert_eq!(held.confirm(&b), Ok(vec!["b"]));
        assert!(held.is_empty());
    }
}
