//! Re-scoring an answer's text against a model (design §12), whatever engine runs the model.
//!
//! The answer is text, and the tokens that made it are not unique (a server may have drawn
//! `t`, `h` where the tokenizer writes `th`, and mistral.rs trims the leading whitespace of an
//! answer's first token from its text). The tokens scored are those an honest server would
//! have drawn: the text's own tokenization, except that wherever the sampler's choice is not
//! that token but its text continues the answer just as well (or it is a special token, which
//! adds no text: at most [`SPECIAL_TOKEN_ALLOWANCE`] of them), the choice is taken and the rest
//! of the text tokenized anew after it. Both tokens may fit the text (" w" and " water") where
//! their scores nearly tie, and the server's kernels may have broken the tie the other way than
//! the re-scorer's: so both paths are scored [`LOOKAHEAD_TOKENS`] ahead and the one that falls
//! less short of the model's choices is kept. Each such turn runs the model over the new
//! sequence.

use super::EngineError;
use chainference_client::claims::SPECIAL_TOKEN_ALLOWANCE;
use chainference_client::rescore::{score_token, TokenScore, MARGIN_CAP};
use chainference_client::sampling::SeededSampler;

/// Tokens compared on both paths where the text fits two (a token, or a shorter one its text
/// begins with, both drawn so near a tie that float noise may have flipped which won): the
/// path the server drew goes on as the model would; the other soon falls far short of it.
pub(crate) const LOOKAHEAD_TOKENS: usize = 16;

/// A model as re-scoring asks it things: its tokenizer, and its logits at every position of a
/// sequence forced through it.
pub(crate) trait Forced {
    /// The logits of one run over a sequence.
    type Run;

    /// The tokens of answer text (no special tokens added).
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError>;

    /// The text of answer `tokens`, special tokens left out as in a served answer.
    async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError>;

    /// Runs the model over `sequence`.
    async fn run(&self, sequence: Vec<u32>) -> Result<Self::Run, EngineError>;

    /// The logits `run` chose the token at `position` of its sequence by: those after the
    /// token before it.
    fn row(&self, run: &Self::Run, position: usize) -> Result<Vec<f32>, EngineError>;
}

/// Scores `answer`, which followed the tokens of `prompt` (its chat template rendered), token
/// by token under `sampler`, as the tokens an honest server would have drawn for its text.
pub(crate) async fn rescore<M: Forced>(
    model: &M,
    prompt: &[u32],
    sampler: &SeededSampler,
    answer: &str,
) -> Result<Vec<TokenScore>, EngineError> {
    let mut tokens = model.tokenize(answer).await?;
    let mut scores = Vec::with_capacity(tokens.len());
    // Special tokens decode to nothing; as many may be taken as the token claims allow.
    let mut textless = SPECIAL_TOKEN_ALLOWANCE;
    let mut run = model.run(sequence(prompt, &tokens)).await?;
    let mut index = 0;
    while let Some(&token) = tokens.get(index) {
        let row = model.row(&run, prompt.len() + index)?;
        let choice = sampler.choose(index as u64, &row);
        if let Some(choice) = choice.filter(|&choice| choice != token) {
            if let Some(other) = realign(model, &tokens[..index], choice, answer, textless).await? {
                let other_run = model.run(sequence(prompt, &other.tokens)).await?;
                let ahead = Lookahead {
                    model,
                    prompt,
                    sampler,
                    answer,
                    textless,
                    from: index,
                    tokens: LOOKAHEAD_TOKENS
                        .min(tokens.len() - index)
                        .min(other.tokens.len() - index),
                };
                let here = ahead.shortfall(&run, &tokens).await?;
                if ahead.shortfall(&other_run, &other.tokens).await? < here {
                    scores.push(score_token(sampler, index as u64, &row, choice));
                    if other.textless {
                        textless -= 1;
                    }
                    (run, tokens) = (other_run, other.tokens);
                    index += 1;
                    continue;
                }
            }
        }
        scores.push(score_token(sampler, index as u64, &row, token));
        index += 1;
    }
    Ok(scores)
}

/// The next few tokens of two ways of drawing an answer's text, from where they part.
struct Lookahead<'a, M> {
    model: &'a M,
    prompt: &'a [u32],
    sampler: &'a SeededSampler,
    /// The answer's text.
    answer: &'a str,
    /// Special tokens that may still be taken.
    textless: u64,
    /// Where the ways part.
    from: usize,
    /// How many tokens of each to score.
    tokens: usize,
}

impl<M: Forced> Lookahead<'_, M> {
    /// How far one way, answer `tokens`, falls short of the sampler's choices under the
    /// logits of `run` (their sequence): the sum of its margins, each capped at
    /// [`MARGIN_CAP`]. Past the first token, a token whose choice would fit the text as well
    /// counts nothing: that way can turn there too (another split of the text, a special
    /// token).
    async fn shortfall(&self, run: &M::Run, tokens: &[u32]) -> Result<f64, EngineError> {
        let mut sum = 0.0;
        for (index, &token) in tokens.iter().enumerate().skip(self.from).take(self.tokens) {
            let row = self.model.row(run, self.prompt.len() + index)?;
            let margin = self.sampler.margin(index as u64, &row, token);
            if margin == 0.0 || (index > self.from && self.fits(&tokens[..index], &row).await?) {
                continue;
            }
            sum += margin.min(MARGIN_CAP);
        }
        Ok(sum)
    }

    /// Whether the sampler's choice after `before`, given its logits `row`, fits the text.
    async fn fits(&self, before: &[u32], row: &[f32]) -> Result<bool, EngineError> {
        let Some(choice) = self.sampler.choose(before.len() as u64, row) else {
            return Ok(false);
        };
        Ok(turn(self.model, before, choice, self.answer, self.textless)
            .await?
            .is_some())
    }
}

/// `prompt` followed by `answer`.
fn sequence(prompt: &[u32], answer: &[u32]) -> Vec<u32> {
    prompt.iter().chain(answer).copied().collect()
}

/// Another way of drawing the answer's text.
struct Realigned {
    /// Its tokens.
    tokens: Vec<u32>,
    /// Whether the token it turns on adds no text (a special token).
    textless: bool,
}

/// The answer's tokens if the one after `before` is `choice`: `before`, `choice`, and the rest
/// of `served` tokenized, when [`turn`] allows it and the whole is served as `served`; `None`
/// otherwise.
async fn realign<M: Forced>(
    model: &M,
    before: &[u32],
    choice: u32,
    served: &str,
    textless: u64,
) -> Result<Option<Realigned>, EngineError> {
    let Some(turned) = turn(model, before, choice, served, textless).await? else {
        return Ok(None);
    };
    let mut tokens = before.to_vec();
    tokens.push(choice);
    let rest = &served[turned.through..];
    if !rest.is_empty() {
        tokens.extend(model.tokenize(rest).await?);
    }
    if served_text(model, &tokens).await? != served {
        return Ok(None);
    }
    Ok(Some(Realigned {
        tokens,
        textless: turned.textless,
    }))
}

/// Where an answer may turn to another token.
struct Turn {
    /// How much of the text it has served through that token.
    through: usize,
    /// Whether the token adds no text.
    textless: bool,
}

/// Whether the answer's token after `before` may be `choice`: when it adds to the text (or
/// adds nothing, while `textless` such tokens are left) and the text so far still begins
/// `served`.
async fn turn<M: Forced>(
    model: &M,
    before: &[u32],
    choice: u32,
    served: &str,
    textless: u64,
) -> Result<Option<Turn>, EngineError> {
    let start = served_text(model, before).await?;
    let mut tokens = before.to_vec();
    tokens.push(choice);
    let through = served_text(model, &tokens).await?;
    // A first token of whitespace alone is served as nothing, yet it was served; so are
    // special tokens (other than the end, which would have ended the answer).
    let adds = through.len() > start.len()
        || (before.is_empty() && !model.decode(&tokens).await?.is_empty());
    if !(adds || textless > 0) || !served.starts_with(&through) {
        return Ok(None);
    }
    Ok(Some(Turn {
        through: through.len(),
        textless: !adds,
    }))
}

/// The text an answer of `tokens` is served as: their decoding less the first token's leading
/// whitespace, which mistral.rs trims from an answer's first piece.
async fn served_text<M: Forced>(model: &M, tokens: &[u32]) -> Result<String, EngineError> {
    let Some(&first) = tokens.first() else {
        return Ok(String::new());
    };
    let text = model.decode(tokens).await?;
    let first = model.decode(&[first]).await?;
    let lead = &first[..first.len() - first.trim_start().len()];
    Ok(text.strip_prefix(lead).unwrap_or(&text).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::prelude::Pubkey;
    use chainference_client::envelope::Sampling;

    /// The special token (decodes to nothing) of [`Toy`]'s vocabulary.
    const SPECIAL: &str = "<|special|>";

    /// A toy model beside mistral.rs: a few words as its vocabulary, tokenized greedily by the
    /// longest match, and logits that follow one drawn answer: after each of its prefixes the
    /// next drawn token scores [`Toy::SURE`], and off it the model wants `.` as surely; `ties`
    /// give another token a score a hair above the drawn one at a position (what float noise
    /// between a server's kernels and the re-scorer's does to a near-tie).
    struct Toy {
        vocabulary: Vec<&'static str>,
        prompt: Vec<u32>,
        drawn: Vec<u32>,
        ties: Vec<(usize, u32)>,
    }

    impl Toy {
        /// How much the model prefers its token over any other.
        const SURE: f32 = 10.0;
        /// How far a tie's token edges out the drawn one.
        const HAIR: f32 = 0.01;

        /// A model that drew `drawn` (words of the vocabulary) after a one-token prompt, with
        /// `ties` (answer position, word) flipped by a hair in its re-scoring logits.
        fn drew(drawn: &[&str], ties: &[(usize, &str)]) -> Self {
            let vocabulary = vec![
                "<prompt>", SPECIAL, ".", " ", "The", " The", " w", " water", "ater", " is",
                " cold", " c", "old", " and", " clear",
            ];
            let mut toy = Self {
                vocabulary,
                prompt: vec![0],
                drawn: Vec::new(),
                ties: Vec::new(),
            };
            toy.drawn = drawn.iter().map(|word| toy.id(word)).collect();
            toy.ties = ties.iter().map(|&(at, word)| (at, toy.id(word))).collect();
            toy
        }

        fn id(&self, word: &str) -> u32 {
            let found = self.vocabulary.iter().position(|known| *known == word);
            found.expect("a word of the toy vocabulary") as u32
        }

        /// The text its answer is served as (the first token's whitespace trimmed).
        fn served(&self) -> String {
            let text: String = self.drawn.iter().map(|&token| self.text(token)).collect();
            text.trim_start().to_string()
        }

        fn text(&self, token: u32) -> &'static str {
            match self.vocabulary[token as usize] {
                SPECIAL => "",
                word => word,
            }
        }

        fn greedy() -> SeededSampler {
            SeededSampler::new(&Pubkey::new_from_array([7; 32]), &Sampling::default())
        }
    }

    impl Forced for Toy {
        type Run = Vec<Vec<f32>>;

        async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
            let mut tokens = Vec::new();
            let mut rest = text;
            while !rest.is_empty() {
                let (token, word) = (2..self.vocabulary.len())
                    .map(|token| (token as u32, self.vocabulary[token]))
                    .filter(|(_, word)| rest.starts_with(word))
                    .max_by_key(|(_, word)| word.len())
                    .expect("toy text is made of its words");
                tokens.push(token);
                rest = &rest[word.len()..];
            }
            Ok(tokens)
        }

        async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError> {
            Ok(tokens.iter().map(|&token| self.text(token)).collect())
        }

        async fn run(&self, sequence: Vec<u32>) -> Result<Self::Run, EngineError> {
            let answer = &sequence[self.prompt.len()..];
            let rows = (0..sequence.len()).map(|position| {
                let mut row = vec![0.0; self.vocabulary.len()];
                let Some(at) = (position + 1).checked_sub(self.prompt.len()) else {
                    return row;
                };
                let on_path = answer[..at] == self.drawn[..at.min(self.drawn.len())];
                match self.drawn.get(at).filter(|_| on_path) {
                    Some(&next) => {
                        row[next as usize] = Self::SURE;
                        if let Some(&(_, tie)) = self.ties.iter().find(|(tied, _)| *tied == at) {
                            row[tie as usize] = Self::SURE + Self::HAIR;
                        }
                    }
                    None => row[self.id(".") as usize] = Self::SURE,
                }
                row
            });
            Ok(rows.collect())
        }

        fn row(&self, run: &Self::Run, position: usize) -> Result<Vec<f32>, EngineError> {
            Ok(run[position - 1].clone())
        }
    }

    /// Re-scores the toy's served answer with the greedy sampler.
    fn rescored(toy: &Toy) -> Vec<TokenScore> {
        let (answer, sampler) = (toy.served(), Toy::greedy());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(rescore(toy, &toy.prompt, &sampler, &answer))
            .expect("the toy re-scores")
    }

    fn tokens(scores: &[TokenScore]) -> Vec<u32> {
        scores.iter().map(|score| score.token).collect()
    }

    #[test]
    fn the_text_s_own_tokens_when_the_server_drew_them() {
        // Its first token's whitespace is trimmed from the text, which tokenizes as "The".
        let toy = Toy::drew(&[" The", " water", " is", " cold", "."], &[]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn);
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
    }

    #[test]
    fn another_split_of_the_text_when_the_server_drew_it() {
        // The text tokenizes as " water" and " cold"; the server drew " w", "ater", " c", "old",
        // and a special token, which adds no text.
        let toy = Toy::drew(&[" The", " w", "ater", SPECIAL, " c", "old", "."], &[]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn);
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
    }

    #[test]
    fn a_drawn_token_is_kept_where_noise_lets_a_shorter_one_edge_it_out() {
        // The server drew " water"; the re-scorer's logits put " w" a hair above it, and " w"
        // continues the text too. Taking " w" would leave "ater" to score, which the model
        // would never draw after it, and everything after would follow the wrong path.
        let drawn = [" The", " water", " is", " cold", " and", " clear", "."];
        let toy = Toy::drew(&drawn, &[(1, " w")]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn);
        let margins: Vec<f64> = scores.iter().map(|score| score.margin).collect();
        assert!(
            margins[1] <= f64::from(Toy::HAIR) * 1.01
                && margins
                    .iter()
                    .enumerate()
                    .all(|(at, &margin)| at == 1 || margin == 0.0),
            "{margins:?}"
        );
    }
}
