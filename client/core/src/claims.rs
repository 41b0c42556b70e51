//! An answer's token claims checked against its decrypted text.
//!
//! Token counts are the server's claims: the program caps them at `max_output_tokens` and bills
//! them, but cannot see the text. The client can. Every model Chainference serves uses a
//! byte-level BPE tokenizer, whose every ordinary token decodes to at least one byte of text,
//! so an honest answer's claimed tokens never exceed its text's bytes, except for the few tokens
//! that decode to no text at all ([`SPECIAL_TOKEN_ALLOWANCE`], plus the tokens of a stop
//! sequence the engine cuts from the text: [`allowance_for`]). A server that claims more has
//! billed tokens its text cannot hold: `max_output_tokens` for one garbage chunk, say.
//!
//! Claims are checked on the whole answer, once it is received: its compression stream is then
//! ended (or, delivered directly, flushed at every batch), so every claimed token's text is
//! readable. Not at each batch's end: the bytes of one flush fill several appends, each a batch
//! with its share of the tokens, and zstd decodes a block only once it is whole (brotli lags
//! less), so mid-answer an honest server's claims run ahead of the text the client has read
//! (measured on the prose corpus cut into 900-byte appends: up to 1,965 tokens ahead with zstd,
//! 189 with brotli at a byte a token). No byte rule can tell that lag from an overclaim made
//! good with padding later, and the totals are what the client is billed for.

use serde::Serialize;

/// Tokens an answer may claim beyond its text's bytes, for tokens that decode to no text.
///
/// An answer ends on an end-of-sequence or end-of-turn token (SmolLM2's `<|im_end|>`, Llama's
/// `</s>`), which is billed like any generated token and decodes to nothing; chat models may
/// emit one or two more control tokens around it (end of turn then end of text, a role or
/// channel marker), and a tiny or badly tuned model may sample a stray special token (`<unk>`,
/// `<s>`) mid-answer. A direct answer billed on an acknowledgement, without its final chunk, may
/// end inside a UTF-8 character whose (up to three) bytes are not text yet. Eight covers all of
/// these with room to spare, and lets a dishonest server take at most eight tokens' price per
/// answer unseen, where the hole this closes let it take `max_output_tokens`.
pub const SPECIAL_TOKEN_ALLOWANCE: u64 = 8;

/// The allowance for an answer whose prompt set `stop` sequences: [`SPECIAL_TOKEN_ALLOWANCE`]
/// plus the longest stop sequence's bytes. The engine generates (and bills) the tokens of the
/// stop sequence that ends an answer but cuts its text; each of those tokens holds at least one
/// byte of it.
pub fn allowance_for(stop: &[String]) -> u64 {
    let longest = stop.iter().map(String::len).max().unwrap_or(0);
    SPECIAL_TOKEN_ALLOWANCE.saturating_add(u64::try_from(longest).unwrap_or(u64::MAX))
}

/// Claims beyond what the text can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "the server claims {claimed} tokens for {text_bytes} bytes of text in {batches} batches: a token is at least one byte of text, so at most {} (allowing {allowance} tokens without text)",
    text_bytes.saturating_add(*allowance)
)]
pub struct Overclaim {
    /// Tokens claimed so far (the sum of the chunks' `tokens`).
    pub claimed: u64,
    /// Bytes of decrypted text so far.
    pub text_bytes: u64,
    /// Tokens allowed beyond the text's bytes.
    pub allowance: u64,
    /// Batches the answer took.
    pub batches: u32,
}

/// Whether `claimed` tokens are plausible for `text_bytes` bytes of text with `allowance` tokens
/// that carry no text: `claimed ≤ text_bytes + allowance`. `batches` says how many batches the
/// answer took (for the message).
pub fn check_claims(
    claimed: u64,
    text_bytes: u64,
    allowance: u64,
    batches: u32,
) -> Result<(), Overclaim> {
    if claimed <= text_bytes.saturating_add(allowance) {
        Ok(())
    } else {
        Err(Overclaim {
            claimed,
            text_bytes,
            allowance,
            batches,
        })
    }
}

/// One answer's claims and text, added up chunk by chunk and checked on the whole answer.
#[derive(Clone, Debug)]
pub struct ClaimTally {
    claimed: u64,
    text_bytes: u64,
    allowance: u64,
    batches: u32,
}

impl ClaimTally {
    /// A tally for an answer allowed `allowance` tokens without text ([`allowance_for`]).
    pub fn new(allowance: u64) -> Self {
        Self {
            claimed: 0,
            text_bytes: 0,
            allowance,
            batches: 0,
        }
    }

    /// Adds one opened chunk: the tokens it claims and the text it gave.
    pub fn chunk(&mut self, tokens: u16, text: &str) {
        self.claimed = self.claimed.saturating_add(u64::from(tokens));
        self.text_bytes = self
            .text_bytes
            .saturating_add(u64::try_from(text.len()).unwrap_or(u64::MAX));
    }

    /// Counts a batch whose chunks were all added.
    pub fn end_batch(&mut self) {
        self.batches = self.batches.saturating_add(1);
    }

    /// Checks the claims against the text, once the whole answer is in (see the module's
    /// documentation for why not before).
    pub fn check(&self) -> Result<(), Overclaim> {
        check_claims(self.claimed, self.text_bytes, self.allowance, self.batches)
    }

    /// The whole answer's claims against its text, with the verdict.
    pub fn report(&self) -> ClaimReport {
        ClaimReport {
            claimed: self.claimed,
            text_bytes: self.text_bytes,
            allowance: self.allowance,
            batches: self.batches,
            overclaim: self.check().err(),
        }
    }
}

/// An answer's claims against its text, as `audit` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClaimReport {
    /// Tokens claimed (the sum of the chunks' `tokens`).
    pub claimed: u64,
    /// Bytes of decrypted text.
    pub text_bytes: u64,
    /// Tokens allowed beyond the text's bytes.
    pub allowance: u64,
    /// Batches checked.
    pub batches: u32,
    /// How the claims exceed the text; `None`: they are plausible.
    pub overclaim: Option<Overclaim>,
}

impl ClaimReport {
    /// Whether the claims stay within the text's bytes plus the allowance.
    pub fn plausible(&self) -> bool {
        self.overclaim.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_up_to_the_text_bytes_plus_the_allowance_pass() {
        assert_eq!(check_claims(10, 10, 0, 1), Ok(()));
        assert_eq!(
            check_claims(10 + SPECIAL_TOKEN_ALLOWANCE, 10, SPECIAL_TOKEN_ALLOWANCE, 1),
            Ok(())
        );
        assert_eq!(check_claims(0, 0, 0, 1), Ok(()));
    }

    #[test]
    fn a_batch_claiming_1000_tokens_for_10_bytes_is_an_overclaim_naming_the_numbers() {
        let overclaim = check_claims(1_000, 10, SPECIAL_TOKEN_ALLOWANCE, 1).unwrap_err();
        assert_eq!(
            overclaim,
            Overclaim {
                claimed: 1_000,
                text_bytes: 10,
                allowance: 8,
                batches: 1
            }
        );
        let message = overclaim.to_string();
        assert!(
            message.contains("claims 1000 tokens for 10 bytes of text"),
            "{message}"
        );
        assert!(message.contains("at most 18"), "{message}");
    }

    #[test]
    fn one_token_past_the_allowance_fails() {
        assert!(check_claims(19, 10, 8, 1).is_err());
        assert!(check_claims(u64::MAX, u64::MAX - 1, 8, 1).is_ok());
    }

    #[test]
    fn stop_sequences_widen_the_allowance_by_the_longest() {
        assert_eq!(allowance_for(&[]), SPECIAL_TOKEN_ALLOWANCE);
        assert_eq!(
            allowance_for(&["\n\n".into(), "User:".into()]),
            SPECIAL_TOKEN_ALLOWANCE + 5
        );
    }

    #[test]
    fn the_tally_judges_the_whole_answer() {
        let mut tally = ClaimTally::new(8);
        // A batch may carry tokens whose text a later batch's bytes release.
        tally.chunk(200, "");
        tally.end_batch();
        tally.chunk(3, &"word ".repeat(200));
        tally.end_batch();
        let report = tally.report();
        assert!(report.plausible());
        assert_eq!(
            (report.claimed, report.text_bytes, report.batches),
            (203, 1_000, 2)
        );
        tally.chunk(1_000, "0123456789");
        tally.end_batch();
        assert_eq!(
            tally.check(),
            Err(Overclaim {
                claimed: 1_203,
                text_bytes: 1_010,
                allowance: 8,
                batches: 3
            })
        );
        assert!(!tally.report().plausible());
    }
}
