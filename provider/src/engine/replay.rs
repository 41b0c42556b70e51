//! The replay engine: answers with a fixed prose corpus at a set rate, starting at a place
//! chosen by the prompt (so different prompts get different, predictable answers). It serves
//! tests and benchmarks beside mistral.rs; prose compresses like real answers, where a small
//! model's loops would flatter compression.

use super::{Engine, EngineError, Generated};
use chainference_client::envelope::{FinishReason, PromptEnvelope};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A corpus replayed word by word: one token is one word with the space before it.
#[derive(Clone, Debug)]
pub struct ReplayEngine {
    words: Arc<Vec<String>>,
    tokens_per_second: f64,
    answer_tokens: Option<u32>,
}

impl ReplayEngine {
    /// Replays `corpus` at `tokens_per_second` (0 = as fast as it can); every answer runs to
    /// its token limit.
    pub fn new(corpus: &str, tokens_per_second: f64) -> Self {
        let words = corpus.split_whitespace().map(str::to_string).collect();
        Self {
            words: Arc::new(words),
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
        if self.words.is_empty() {
            return (Vec::new(), FinishReason::Stop);
        }
        let digest = Sha256::digest(serde_json::to_vec(&prompt.messages).unwrap_or_default());
        let start = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        let start = (start % self.words.len() as u64) as usize;
        let tokens = (0..count as usize)
            .map(|i| {
                let word = &self.words[(start + i) % self.words.len()];
                if i == 0 {
                    word.clone()
                } else {
                    format!(" {word}")
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

impl Engine for ReplayEngine {
    fn generate(
        &self,
        _model: &str,
        prompt: &PromptEnvelope,
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
    use chainference_client::envelope::{Compression, Message, Sampling};

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
        let mut steps = engine.generate("any", &prompt("a"), "", 10).unwrap();
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
        let mut steps = engine.generate("any", &prompt("a"), cut, 5).unwrap();
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
