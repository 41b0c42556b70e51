//! The replay engine: answers with a fixed prose corpus at a set rate, starting at a place
//! chosen by the prompt (so different prompts get different, predictable answers). It serves
//! tests and benchmarks beside mistral.rs; prose compresses like real answers, where a small
//! model's loops would flatter compression.

use super::{Engine, EngineError, Generated};
use chainference_client::envelope::{FinishReason, PromptEnvelope};
use chainference_client::sampling::SeededSampler;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Letters (or digits) a replayed token carries at most; longer words are split into nearly
/// equal pieces, as a BPE vocabulary splits rarer words. Calibrated on the corpus against
/// SmolLM2's tokenizer, which gives it about 1% more tokens than this rule (README,
/// benchmarks), so figures per token err on the dear side.
const PIECE_LEN: usize = 8;

/// A corpus replayed token by token. Tokens are cut the way a BPE tokenizer cuts English: the
/// space before a word goes with its first piece, punctuation is a token of its own, and a
/// word longer than [`PIECE_LEN`] letters is split into nearly equal pieces.
#[derive(Clone, Debug)]
pub struct ReplayEngine {
    /// The corpus's tokens, each word's first piece carrying the space before it.
    tokens: Arc<Vec<String>>,
    /// Where each word starts in `tokens` (answers start at a word).
    word_starts: Arc<Vec<usize>>,
    tokens_per_second: f64,
    answer_tokens: Option<u32>,
}

impl ReplayEngine {
    /// Replays `corpus` at `tokens_per_second` (0 = as fast as it can); every answer runs to
    /// its token limit.
    pub fn new(corpus: &str, tokens_per_second: f64) -> Self {
        let mut tokens = Vec::new();
        let mut word_starts = Vec::new();
        for word in corpus.split_whitespace() {
            word_starts.push(tokens.len());
            tokens.extend(word_tokens(word));
        }
        Self {
            tokens: Arc::new(tokens),
            word_starts: Arc::new(word_starts),
            tokens_per_second,
            answer_tokens: None,
        }
    }

    /// Answers end by themselves (reason `stop`) after `tokens` tokens when that is below the
    /// request's limit.
    pub fn with_answer_tokens(mut self, tokens: u32) -> Self {
        self.answer_tokens = Some(tokens);
        self
    }

    /// Tokens of the whole corpus (one pass through it).
    pub fn corpus_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// The answer's tokens for `prompt` and how it ends, given the token limit.
    pub fn answer_for(
        &self,
        prompt: &PromptEnvelope,
        max_tokens: u32,
    ) -> (Vec<String>, FinishReason) {
        let (count, reason) = match self.answer_tokens {
            Some(tokens) if tokens < max_tokens => (tokens, FinishReason::Stop),
            _ => (max_tokens, FinishReason::Length),
        };
        if self.tokens.is_empty() {
            return (Vec::new(), FinishReason::Stop);
        }
        let digest = Sha256::digest(serde_json::to_vec(&prompt.messages).unwrap_or_default());
        let start = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        let start = self.word_starts[(start % self.word_starts.len() as u64) as usize];
        let tokens = (0..count as usize)
            .map(|i| {
                let token = &self.tokens[(start + i) % self.tokens.len()];
                match i {
                    0 => token.trim_start().to_string(),
                    _ => token.clone(),
                }
            })
            .collect();
        (tokens, reason)
    }

    /// The whole answer text for `prompt` (what a client must receive).
    pub fn expected_text(&self, prompt: &PromptEnvelope, max_tokens: u32) -> String {
        self.answer_for(prompt, max_tokens).0.concat()
    }
}

/// The tokens of one whitespace-separated `word`, the first carrying the space before it.
fn word_tokens(word: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut letters = Vec::new();
    for c in word.chars() {
        if c.is_alphanumeric() {
            letters.push(c);
        } else {
            push_pieces(&mut letters, &mut tokens);
            tokens.push(c.to_string());
        }
    }
    push_pieces(&mut letters, &mut tokens);
    if let Some(first) = tokens.first_mut() {
        first.insert(0, ' ');
    }
    tokens
}

/// Moves a run of `letters` into `tokens` as nearly equal pieces of at most [`PIECE_LEN`].
fn push_pieces(letters: &mut Vec<char>, tokens: &mut Vec<String>) {
    let pieces = letters.len().div_ceil(PIECE_LEN);
    let mut start = 0;
    for piece in 1..=pieces {
        let end = letters.len() * piece / pieces;
        tokens.push(letters[start..end].iter().collect());
        start = end;
    }
    letters.clear();
}

impl Engine for ReplayEngine {
    fn generate(
        &self,
        _model: &str,
        prompt: &PromptEnvelope,
        _sampler: SeededSampler,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError> {
        let (tokens, reason) = self.answer_for(prompt, max_tokens);
        let (sender, receiver) = mpsc::unbounded_channel();
        let Some((whole, rest)) = continuation(tokens, delivered) else {
            let _ = sender.send(Generated::Failed(
                "the delivered start is not this engine's answer to the prompt".into(),
            ));
            return Ok(receiver);
        };
        if !delivered.is_empty() {
            let _ = sender.send(Generated::Resumed { tokens: whole });
        }
        let pause = (self.tokens_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / self.tokens_per_second));
        tokio::spawn(async move {
            let mut next = tokio::time::Instant::now();
            for text in rest {
                if let Some(pause) = pause {
                    next += pause;
                    tokio::time::sleep_until(next).await;
                }
                if sender.send(Generated::Text { text, tokens: 1 }).is_err() {
                    return;
                }
            }
            let _ = sender.send(Generated::Done(reason));
        });
        Ok(receiver)
    }

    fn weights(&self, _model: &str) -> Option<[u8; 32]> {
        None
    }
}

/// What is left of `tokens` once `delivered`, a prefix of their text, is taken off: the count
/// of tokens wholly delivered, and the pieces still to send (the first may be the rest of a
/// token the delivered text ends inside, which then counts as one). `None` if `delivered` is
/// not a prefix.
fn continuation(tokens: Vec<String>, delivered: &str) -> Option<(u32, Vec<String>)> {
    let mut left = delivered;
    let mut whole = 0;
    let mut rest = Vec::new();
    let mut tokens = tokens.into_iter();
    for token in tokens.by_ref() {
        if let Some(after) = left
            .strip_prefix(token.as_str())
            .filter(|_| !left.is_empty())
        {
            left = after;
            whole += 1;
            continue;
        }
        rest.push(token.strip_prefix(left)?.to_string());
        left = "";
        break;
    }
    if !left.is_empty() {
        return None;
    }
    rest.extend(tokens);
    Some((whole, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::prelude::Pubkey;
    use chainference_client::envelope::{Compression, Message, Sampling};

    fn greedy() -> SeededSampler {
        SeededSampler::new(&Pubkey::default(), &Sampling::default())
    }

    fn prompt(text: &str) -> PromptEnvelope {
        PromptEnvelope {
            messages: vec![Message {
                role: "user".into(),
                content: text.into(),
            }],
            sampling: Sampling::default(),
            max_tokens: 10,
            compression: Compression::Zstd,
        }
    }

    #[tokio::test]
    async fn replays_the_corpus_from_a_place_the_prompt_picks() {
        let engine =
            ReplayEngine::new("one two three four five six seven", 0.0).with_answer_tokens(4);
        let a = engine.expected_text(&prompt("a"), 10);
        assert_eq!(a.split(' ').count(), 4);
        assert_ne!(
            a,
            engine.expected_text(&prompt("b"), 10),
            "prompts pick places"
        );
        let mut steps = engine
            .generate("any", &prompt("a"), greedy(), "", 10)
            .unwrap();
        let mut text = String::new();
        let mut end = None;
        while let Some(step) = steps.recv().await {
            match step {
                Generated::Text {
                    text: piece,
                    tokens,
                } => {
                    assert_eq!(tokens, 1);
                    text.push_str(&piece);
                }
                Generated::Done(reason) => end = Some(reason),
                other => panic!("unexpected step {other:?}"),
            }
        }
        assert_eq!(text, a);
        assert_eq!(end, Some(FinishReason::Stop));
        let (capped, reason) = engine.answer_for(&prompt("a"), 2);
        assert_eq!((capped.len(), reason), (2, FinishReason::Length));
    }

    #[test]
    fn words_are_cut_like_a_bpe_tokenizer_cuts_them() {
        assert_eq!(word_tokens("the"), [" the"]);
        assert_eq!(word_tokens("harbour."), [" harbour", "."]);
        assert_eq!(word_tokens("navigation"), [" navig", "ation"]);
        assert_eq!(
            word_tokens("(lighthouse),"),
            [" (", "light", "house", ")", ","]
        );
        assert_eq!(word_tokens("don't"), [" don", "'", "t"]);
        let engine = ReplayEngine::new("A lighthouse keeper,  at dawn.", 0.0);
        assert_eq!(engine.corpus_tokens(), 8);
        let (tokens, _) = engine.answer_for(&prompt("a"), 8);
        let text = tokens.concat();
        assert!(!text.starts_with(' '), "an answer starts without a space");
        assert_eq!(text.split_whitespace().count(), 5, "{text}");
    }

    #[test]
    fn a_continuation_sends_what_the_delivered_start_lacks() {
        let tokens = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let answer = tokens(&["one", " two", " three"]);
        assert_eq!(
            continuation(answer.clone(), ""),
            Some((0, answer.clone())),
            "nothing delivered: everything to send"
        );
        assert_eq!(
            continuation(answer.clone(), "one two"),
            Some((2, tokens(&[" three"])))
        );
        assert_eq!(
            continuation(answer.clone(), "one tw"),
            Some((1, tokens(&["o", " three"]))),
            "a token cut inside is finished and counted once"
        );
        assert_eq!(
            continuation(answer.clone(), "one two three"),
            Some((3, vec![]))
        );
        assert_eq!(continuation(answer, "one six"), None, "not this answer");
    }

    #[tokio::test]
    async fn a_resumed_replay_ends_the_same_as_an_uninterrupted_one() {
        let engine = ReplayEngine::new("alpha beta gamma delta epsilon zeta", 0.0);
        let whole = engine.expected_text(&prompt("a"), 5);
        let cut = &whole[..whole.len() / 2];
        let mut steps = engine
            .generate("any", &prompt("a"), greedy(), cut, 5)
            .unwrap();
        let mut text = cut.to_string();
        let mut tokens = 0;
        while let Some(step) = steps.recv().await {
            match step {
                Generated::Resumed { tokens: delivered } => tokens += delivered,
                Generated::Text {
                    text: piece,
                    tokens: count,
                } => {
                    text.push_str(&piece);
                    tokens += count;
                }
                Generated::Done(reason) => assert_eq!(reason, FinishReason::Length),
                Generated::Failed(error) => panic!("{error}"),
            }
        }
        assert_eq!((text, tokens), (whole, 5));
    }
}
