//! Re-scoring an answer's text against a model (design §12), whatever engine runs the model.
//!
//! The answer is text, and the tokens that made it are not unique (a server may have drawn
//! `t`, `h` where the tokenizer writes `th`, and mistral.rs trims the leading whitespace of an
//! answer's first token from its text). The tokens scored are those an honest server would
//! have drawn: the text's own tokenization, except where another way fits better. At each
//! position the other ways of drawing the text are weighed: the choice if its text
//! continues the answer (followed by the model's next choices where it ends inside a
//! character, as a byte-level vocabulary's tokens may), or if it is a special token, which
//! adds no text (at most [`SPECIAL_TOKEN_ALLOWANCE`] of them, and never the end, where a
//! server stops); and the tokens the rest of the text begins with that fall short of the
//! choice by a near-tie only (the server's kernels may have broken the tie the other way than
//! the re-scorer's: "\n" drawn where " But" now edges it out, and the text's own "\n\n" is
//! far; or "\n" drawn where the text's own "\n\n" is now a hair ahead). Each way runs the
//! model over its tokens (the rest of the text tokenized anew), is scored
//! [`LOOKAHEAD_TOKENS`] ahead against the text's own (turning, as an honest draw would, where
//! its token falls far short of a choice that fits), and the one that falls least short of
//! the model's choices is kept.
//!
//! The model runs over the whole answer once. The answer up to a place with ways to weigh is
//! kept ([`Forced::keep`]), so each way runs only over the tokens its look-ahead reads; a way
//! kept is followed on with that run, and the model runs past it only where the answer goes
//! on past what the look-ahead read. Every request to the model costs (on a CPU, at least a
//! pass over the weights), and most places with near-ties have no way that fits the text: the
//! answer is kept only once a way there runs the model.
//!
//! Weighing ways costs runs, and a text with a way that fits at every position (a substitute's
//! " C C C …", or text made to stall an auditor) would cost dozens a position. The runs are
//! budgeted ([`RUNS_PER_TOKEN`] an answer token, checked before each position's weighing,
//! which then runs whole): once spent, every later position is scored as one where no way
//! fits, on the path as it is (the text's own tokens past the last way kept). Past it, a token
//! counts as the model's only where it is itself near the choice: a spent budget takes
//! excuses away and adds none, so it may make a costly honest answer inconsistent, and never
//! lets a substitute pass. Where it was spent is reported ([`Rescoring::cut`]).

use super::EngineError;
use chainference_client::claims::SPECIAL_TOKEN_ALLOWANCE;
use chainference_client::rescore::{score_token, TokenScore, FAR_MARGIN, MARGIN_CAP};
use chainference_client::sampling::SeededSampler;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Tokens compared on two ways of drawing the text where both fit it (a token, or a shorter one
/// its text begins with, drawn so near a tie that float noise may have flipped which won): the
/// way the server drew goes on as the model would; the other soon falls far short of it.
pub(crate) const LOOKAHEAD_TOKENS: usize = 16;
/// Other ways of drawing the text weighed at one position (each runs the model once).
const MAX_TURNS: usize = 2;
/// The longest token text, in characters, looked for at the start of the rest of the text.
const MAX_TOKEN_CHARS: usize = 16;
/// The most tokens one character is drawn as (UTF-8 takes at most four bytes, a token each).
const MAX_CHARACTER_TOKENS: usize = 4;
/// Requests to the model (runs and kept states) re-scoring may make, an answer token, before it
/// stops weighing other ways of drawing the text (a position whose weighing began goes on).
pub(crate) const RUNS_PER_TOKEN: usize = 8;

/// An answer re-scored, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Rescoring {
    /// Each token's score, as an honest server would have drawn the text.
    pub scores: Vec<TokenScore>,
    /// Requests made to the model (runs, and states kept to run on from).
    pub runs: usize,
    /// The requests other ways of drawing the text were weighed within ([`RUNS_PER_TOKEN`] a
    /// token of the text's own tokenization).
    pub budget: usize,
    /// The first position where other ways of drawing the text were no longer weighed, the
    /// budget of runs spent ([`RUNS_PER_TOKEN`] a token); `None` where it never was.
    pub cut: Option<usize>,
}

/// A model as re-scoring asks it things: its tokenizer, and its logits at every position of a
/// sequence forced through it.
pub(crate) trait Forced {
    /// The logits of one run over a sequence.
    type Run;

    /// The tokens of answer text (no special tokens added).
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError>;

    /// The text of answer `tokens`, special tokens left out as in a served answer.
    async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError>;

    /// Whether drawing `token` ends an answer (an end-of-sequence token): a server that drew
    /// it stopped there, so it is never a way of drawing the text's middle.
    async fn ends(&self, token: u32) -> Result<bool, EngineError>;

    /// Runs the model over `sequence`.
    async fn run(&self, sequence: Vec<u32>) -> Result<Self::Run, EngineError>;

    /// Keeps the model's state after `sequence`, so that a later run over a sequence that
    /// begins with it need run only past it (and may have the logits of the positions after
    /// `sequence` only).
    async fn keep(&self, sequence: &[u32]) -> Result<(), EngineError>;

    /// The logits `run` chose the token at `position` of its sequence by: those after the
    /// token before it.
    fn row(&self, run: &Self::Run, position: usize) -> Result<Vec<f32>, EngineError>;
}

/// Scores `answer`, which followed the tokens of `prompt` (its chat template rendered), token
/// by token under `sampler`, as the tokens an honest server would have drawn for its text,
/// weighing other ways of drawing it within [`RUNS_PER_TOKEN`] model requests a token.
pub(crate) async fn rescore<M: Forced>(
    model: &M,
    prompt: &[u32],
    sampler: &SeededSampler,
    answer: &str,
) -> Result<Rescoring, EngineError> {
    rescore_within(model, prompt, sampler, answer, RUNS_PER_TOKEN).await
}

/// [`rescore`], with a budget of `runs_per_token` model requests an answer token.
async fn rescore_within<M: Forced>(
    model: &M,
    prompt: &[u32],
    sampler: &SeededSampler,
    answer: &str,
    runs_per_token: usize,
) -> Result<Rescoring, EngineError> {
    let tokens = model.tokenize(answer).await?;
    let text = Answer {
        model,
        prompt,
        sampler,
        served: answer,
        parting: Mutex::default(),
        runs: AtomicUsize::new(0),
        budget: runs_per_token.saturating_mul(tokens.len()),
    };
    let mut scores = Vec::with_capacity(tokens.len());
    let mut cut = None;
    // Special tokens decode to nothing; as many may be taken as the token claims allow.
    let mut textless = SPECIAL_TOKEN_ALLOWANCE;
    let mut path = Path::whole(&text, tokens).await?;
    let mut index = 0;
    while let Some(&token) = path.tokens.get(index) {
        // A way kept has the logits its look-ahead read; past them, the model runs over the rest.
        if index == path.covered {
            path.cover(&text, path.tokens.len()).await?;
        }
        let row = model.row(&path.run, prompt.len() + index)?;
        let at = Place {
            before: &path.tokens[..index],
            token,
            row: &row,
        };
        let others = if text.spent() {
            cut.get_or_insert(index);
            Vec::new()
        } else {
            turns(&text, &at, textless).await?
        };
        let mut best: Option<(f64, Path<M>, bool)> = None;
        // The text's own shortfall, by how many tokens ahead (the same for every way but near
        // the end).
        let mut own: Vec<(usize, f64)> = Vec::new();
        for other in others {
            let ahead = Lookahead {
                text: &text,
                textless,
                from: index,
                tokens: LOOKAHEAD_TOKENS
                    .min(path.tokens.len() - index)
                    .min(other.tokens.len() - index),
            };
            let own_shortfall = match own.iter().find(|(ahead_of, _)| *ahead_of == ahead.tokens) {
                Some(&(_, shortfall)) => shortfall,
                None => {
                    path.cover(&text, index + ahead.tokens).await?;
                    let shortfall = ahead.shortfall(&path.run, &path.tokens).await?;
                    own.push((ahead.tokens, shortfall));
                    shortfall
                }
            };
            let way = ahead.follow(other.tokens).await?;
            let gain = own_shortfall - ahead.shortfall(&way.run, &way.tokens).await?;
            if gain > best.as_ref().map_or(0.0, |(best, ..)| *best) {
                best = Some((gain, way, other.textless));
            }
        }
        if let Some((_, way, way_textless)) = best {
            textless -= u64::from(way_textless);
            path = way;
        }
        scores.push(score_token(sampler, index as u64, &row, path.tokens[index]));
        index += 1;
    }
    Ok(Rescoring {
        scores,
        runs: text.runs.load(Ordering::Relaxed),
        budget: text.budget,
        cut,
    })
}

/// Scores again, on `served` (the model as the server ran it: its own quantized kernels, where
/// the re-scoring ran on weights dequantized to F32, whose logits differ by float noise), each
/// token of `scores` (an answer to `prompt`, re-scored under `sampler`) at least
/// [`FAR_MARGIN`] short of the choice; the new score replaces the old. The first is run alone,
/// over the answer up to it: where it stays far it settles the verdict (on every first part of
/// the answer that holds it, too), and the rest are left. Otherwise one more run, over the
/// answer up to the last, scores all the others: at most two runs, however many there are.
/// Returns the positions scored again.
pub(crate) async fn confirm<M: Forced>(
    served: &M,
    prompt: &[u32],
    sampler: &SeededSampler,
    scores: &mut [TokenScore],
) -> Result<Vec<usize>, EngineError> {
    let tokens: Vec<u32> = scores.iter().map(|score| score.token).collect();
    let far: Vec<usize> = (0..scores.len())
        .filter(|&index| scores[index].margin >= FAR_MARGIN)
        .collect();
    let (Some(&first), Some(&last)) = (far.first(), far.last()) else {
        return Ok(far);
    };
    let run = served.run(sequence(prompt, &tokens[..first])).await?;
    let row = served.row(&run, prompt.len() + first)?;
    scores[first] = score_token(sampler, first as u64, &row, tokens[first]);
    if scores[first].margin >= FAR_MARGIN || first == last {
        return Ok(vec![first]);
    }
    let run = served.run(sequence(prompt, &tokens[..last])).await?;
    for &at in &far[1..] {
        let row = served.row(&run, prompt.len() + at)?;
        scores[at] = score_token(sampler, at as u64, &row, tokens[at]);
    }
    Ok(far)
}

/// The tokens re-scoring follows, and the logits of a run over (a first part of) them.
struct Path<M: Forced> {
    /// The answer's tokens.
    tokens: Vec<u32>,
    /// A run over the prompt and them, or over their first part.
    run: M::Run,
    /// How many answer positions `run` has the logits of (those of a position come from the
    /// tokens before it).
    covered: usize,
}

impl<M: Forced> Path<M> {
    /// Answer `tokens`, the model run over all of them.
    async fn whole(text: &Answer<'_, M>, tokens: Vec<u32>) -> Result<Self, EngineError> {
        Ok(Self {
            run: text.run(sequence(text.prompt, &tokens)).await?,
            covered: tokens.len(),
            tokens,
        })
    }

    /// Runs the model over as many of the tokens as the first `positions` need, if they are not
    /// all covered.
    async fn cover(&mut self, text: &Answer<'_, M>, positions: usize) -> Result<(), EngineError> {
        if positions <= self.covered {
            return Ok(());
        }
        let end = positions.min(self.tokens.len());
        self.run = text
            .run(sequence(text.prompt, &self.tokens[..end - 1]))
            .await?;
        self.covered = end;
        Ok(())
    }
}

/// A position of the answer, where the text's own token may or may not be the sampler's choice.
struct Place<'a> {
    /// The tokens before it.
    before: &'a [u32],
    /// The text's own token there.
    token: u32,
    /// The logits there.
    row: &'a [f32],
}

/// The other ways the server may have drawn the text at `at`: the sampler's choice, and each
/// token the rest of the text begins with that falls short of the choice by less than
/// [`FAR_MARGIN`] (a near-tie that float noise may have flipped against the server's draw,
/// also where the text's own token is the choice: "\n" drawn, "\n\n" now a hair ahead),
/// nearest first, at most [`MAX_TURNS`] of them.
async fn turns<M: Forced>(
    text: &Answer<'_, M>,
    at: &Place<'_>,
    textless: u64,
) -> Result<Vec<Realigned>, EngineError> {
    let (model, sampler, served) = (text.model, text.sampler, text.served);
    let (before, row) = (at.before, at.row);
    let position = before.len() as u64;
    // Most positions have no other token within a near-tie of the choice: nothing to weigh,
    // and no decoding or tokenizing of the text to do.
    let near = near_ties(sampler, position, row);
    if near.iter().all(|&(_, token)| token == at.token) {
        return Ok(Vec::new());
    }
    let mut candidates: Vec<(f64, u32)> = sampler
        .choose(position, row)
        .filter(|&choice| choice != at.token)
        .map(|choice| (0.0, choice))
        .into_iter()
        .collect();
    let start = served_text(model, before).await?;
    let rest = served.get(start.len()..).unwrap_or_default();
    let ends = rest.char_indices().map(|(start, c)| start + c.len_utf8());
    for end in ends.take(MAX_TOKEN_CHARS) {
        if let [token] = model.tokenize(&rest[..end]).await?[..] {
            let margin = sampler.margin(position, row, token);
            let known = token == at.token || candidates.iter().any(|&(_, known)| known == token);
            if margin < FAR_MARGIN && !known {
                candidates.push((margin, token));
            }
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Every way from here on begins with the answer so far.
    text.part(before);
    let mut ways = Vec::new();
    for (_, candidate) in candidates {
        if ways.len() == MAX_TURNS {
            break;
        }
        if let Some(way) = realign(text, before, candidate, textless).await? {
            ways.push(way);
        }
    }
    Ok(ways)
}

/// The next few tokens of two ways of drawing an answer's text, from where they part.
struct Lookahead<'a, M> {
    /// The answer.
    text: &'a Answer<'a, M>,
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
    /// [`MARGIN_CAP`]. Past the first token, where the way's token falls far short of a
    /// choice that fits the text too (another split of it, a special token), the way turns
    /// to the choice, as an honest server's draw would have, and is scored on from there.
    async fn shortfall(&self, run: &M::Run, tokens: &[u32]) -> Result<f64, EngineError> {
        let mut turned: Option<Path<M>> = None;
        let mut textless = self.textless;
        let mut sum = 0.0;
        for index in self.from..self.from + self.tokens {
            let (run, tokens) = match &turned {
                Some(way) => (&way.run, way.tokens.as_slice()),
                None => (run, tokens),
            };
            let Some(&token) = tokens.get(index) else {
                break;
            };
            let Answer {
                model,
                prompt,
                sampler,
                ..
            } = self.text;
            let row = model.row(run, prompt.len() + index)?;
            let margin = sampler.margin(index as u64, &row, token);
            if margin == 0.0 {
                continue;
            }
            // Short of the choice by a near-tie, the way's token may be what was drawn (noise
            // may have flipped the tie): it stays. Far short of it, it was not.
            let far = index > self.from && margin >= FAR_MARGIN;
            if let Some(choice) = sampler.choose(index as u64, &row).filter(|_| far) {
                let before = &tokens[..index];
                if let Some(way) = realign(self.text, before, choice, textless).await? {
                    textless -= u64::from(way.textless);
                    turned = Some(self.follow(way.tokens).await?);
                    continue;
                }
            }
            sum += margin.min(MARGIN_CAP);
        }
        Ok(sum)
    }

    /// The way of answer `tokens`, the model run over as many of them as the look-ahead reads
    /// the logits of (those of a position come from the tokens before it).
    async fn follow(&self, tokens: Vec<u32>) -> Result<Path<M>, EngineError> {
        let end = (self.from + self.tokens - 1).min(tokens.len());
        Ok(Path {
            run: self
                .text
                .run(sequence(self.text.prompt, &tokens[..end]))
                .await?,
            covered: (end + 1).min(tokens.len()),
            tokens,
        })
    }
}

/// One answer as re-scoring weighs it.
struct Answer<'a, M> {
    /// The model.
    model: &'a M,
    /// The tokens of the prompt it followed.
    prompt: &'a [u32],
    /// Its sampler.
    sampler: &'a SeededSampler,
    /// Its text as served.
    served: &'a str,
    /// The tokens (prompt and answer) before the place where ways last parted, if their state
    /// is still to keep ([`Forced::keep`]): it is kept before the next run only, as most
    /// places with near-ties have no way that fits the text, and nothing to run.
    parting: Mutex<Option<Vec<u32>>>,
    /// Requests made to the model so far.
    runs: AtomicUsize,
    /// The requests ways may be weighed within.
    budget: usize,
}

impl<M: Forced> Answer<'_, M> {
    /// Notes that ways part after the answer's tokens `before`: every run from here on begins
    /// with them.
    fn part(&self, before: &[u32]) {
        let before = sequence(self.prompt, before);
        *self.parting.lock().unwrap_or_else(PoisonError::into_inner) = Some(before);
    }

    /// Runs the model over `sequence`, keeping first the state where ways last parted if that
    /// is still to do.
    async fn run(&self, sequence: Vec<u32>) -> Result<M::Run, EngineError> {
        let parting = self
            .parting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(before) = parting {
            self.runs.fetch_add(1, Ordering::Relaxed);
            self.model.keep(&before).await?;
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.model.run(sequence).await
    }

    /// Whether the budget of requests is spent: no more ways are weighed.
    fn spent(&self) -> bool {
        self.runs.load(Ordering::Relaxed) >= self.budget
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

/// The answer's tokens if the one after `before` is `choice`: `before`, `choice` (and the tokens
/// that finish the character it ends inside, if it does), and the rest of `served` tokenized,
/// when [`turn`] allows it and the whole is served as `served`; `None` otherwise.
async fn realign<M: Forced>(
    text: &Answer<'_, M>,
    before: &[u32],
    choice: u32,
    textless: u64,
) -> Result<Option<Realigned>, EngineError> {
    let (model, served) = (text.model, text.served);
    let drawn = finished(text, before, choice).await?;
    let Some(turned) = turn(model, before, &drawn, served, textless).await? else {
        return Ok(None);
    };
    let mut tokens = [before, &drawn].concat();
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

/// `choice`, drawn after `before`, and the tokens that finish the character it ends inside, if it
/// does: a byte-level vocabulary's token may hold the first bytes of a character only (SmolLM2
/// has no token for "✨": a server drew it as three), and the server then drew its other bytes
/// as the model chose them: the likeliest next tokens, within a near-tie of the choice (float
/// noise may have flipped it), that finish the character as the text has it. An unfinished
/// character decodes as U+FFFD whatever its bytes, so a byte is known to fit only once the
/// character is whole: where one does not, the next likeliest is tried. `[choice]` where none
/// fits.
async fn finished<M: Forced>(
    text: &Answer<'_, M>,
    before: &[u32],
    choice: u32,
) -> Result<Vec<u32>, EngineError> {
    let Answer {
        model,
        prompt,
        sampler,
        served,
        ..
    } = *text;
    let mut drawn = vec![choice];
    // The tokens not yet tried after each of `drawn` but the last, likeliest last.
    let mut untried: Vec<Vec<u32>> = Vec::new();
    loop {
        let tokens = [before, &drawn].concat();
        let through = served_text(model, &tokens).await?;
        if served.starts_with(&through) {
            return Ok(drawn);
        }
        let unfinished = through.strip_suffix(char::REPLACEMENT_CHARACTER);
        if unfinished.is_some_and(|start| served.starts_with(start))
            && drawn.len() < MAX_CHARACTER_TOKENS
        {
            let run = text.run(sequence(prompt, &tokens)).await?;
            let row = model.row(&run, prompt.len() + tokens.len())?;
            let mut next = Vec::new();
            for (_, token) in near_ties(sampler, tokens.len() as u64, &row) {
                // Not a special token: those add no bytes.
                if !model.decode(&[token]).await?.is_empty() {
                    next.push(token);
                }
            }
            next.reverse();
            untried.push(next);
        } else {
            drawn.pop();
        }
        // The likeliest token not yet tried at the deepest place that has one.
        loop {
            let Some(next) = untried.last_mut() else {
                return Ok(vec![choice]);
            };
            if let Some(token) = next.pop() {
                drawn.push(token);
                break;
            }
            untried.pop();
            drawn.pop();
        }
    }
}

/// The tokens that fall short of the sampler's choice at `position`, given the logits `row`,
/// by less than [`FAR_MARGIN`] (the choice among them, by 0), nearest first, with how far.
fn near_ties(sampler: &SeededSampler, position: u64, row: &[f32]) -> Vec<(f64, u32)> {
    let scores = sampler.scores(position, row);
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut near: Vec<(f64, u32)> = (0u32..)
        .zip(&scores)
        .map(|(token, &score)| (best - score, token))
        .filter(|&(margin, _)| margin < FAR_MARGIN)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near
}

/// Where an answer may turn to other tokens.
struct Turn {
    /// How much of the text it has served through those tokens.
    through: usize,
    /// Whether they add no text.
    textless: bool,
}

/// Whether the answer's tokens after `before` may be `drawn`: when they add to the text (or
/// add nothing, while `textless` such tokens are left) and the text so far still begins
/// `served`.
async fn turn<M: Forced>(
    model: &M,
    before: &[u32],
    drawn: &[u32],
    served: &str,
    textless: u64,
) -> Result<Option<Turn>, EngineError> {
    let through = served_text(model, &[before, drawn].concat()).await?;
    // Only special tokens decode to nothing. The text may not grow where others are drawn: a
    // first token of whitespace alone is served as nothing, yet it was served; a byte that
    // finishes a character replaces the U+FFFD the unfinished one decoded as, which may be as
    // long. The end is no way of drawing text: a server that drew it would have stopped there.
    let adds = !model.decode(drawn).await?.is_empty();
    if !(adds || textless > 0) || !served.starts_with(&through) {
        return Ok(None);
    }
    if let [token] = drawn {
        if !adds && model.ends(*token).await? {
            return Ok(None);
        }
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
    use chainference_client::rescore::{Rescored, Verdict};
    use std::cell::{Cell, RefCell};

    /// The special token (decodes to nothing) of [`Toy`]'s vocabulary.
    const SPECIAL: &str = "<|special|>";
    /// The token that ends [`Toy`]'s answers (decodes to nothing too).
    const END: &str = "<|end|>";
    /// [`Toy`]'s tokens of parts of "✨" (bytes E2 9C A8), as in a byte-level vocabulary.
    const PIECES: [(&str, &[u8]); 6] = [
        ("<E2>", &[0xE2]),
        ("<9C>", &[0x9C]),
        ("<9F>", &[0x9F]),
        ("<A8>", &[0xA8]),
        ("<E2 9C>", &[0xE2, 0x9C]),
        ("<A8 E2>", &[0xA8, 0xE2]),
    ];

    /// A toy model beside mistral.rs: a few words as its vocabulary, tokenized greedily by the
    /// longest match, and logits that follow one drawn answer: after each of its prefixes the
    /// next drawn token scores [`Toy::SURE`], and off it the model wants `.` as surely; `ties`
    /// give another token a score a hair above the drawn one at a position (what float noise
    /// between a server's kernels and the re-scorer's does to a near-tie), `near` give another
    /// a score [`Toy::NEAR`] below it. Past an [`END`] it only ever opens a new turn
    /// ([`SPECIAL`]), as a chat model does; off the drawn answer, `lures` may lead it on
    /// (after these answer tokens, this one) where it would otherwise want `.`.
    ///
    /// In a [`Toy::fog`], off the drawn answer every token scores alike.
    ///
    /// Like mistral.rs, a run over a sequence that begins with a kept one has no logits at the
    /// kept positions; [`Toy::ran`] counts the tokens its runs ran, [`Toy::requests`] the runs
    /// and kept states.
    struct Toy {
        vocabulary: Vec<&'static str>,
        prompt: Vec<u32>,
        drawn: Vec<u32>,
        ties: Vec<(usize, u32)>,
        near: Vec<(usize, u32)>,
        far: Vec<(usize, u32)>,
        lures: Vec<(Vec<u32>, u32)>,
        fog: bool,
        kept: RefCell<Vec<Vec<u32>>>,
        ran: Cell<usize>,
        requests: Cell<usize>,
    }

    impl Toy {
        /// How much the model prefers its token over any other.
        const SURE: f32 = 10.0;
        /// How far a tie's token edges out the drawn one.
        const HAIR: f32 = 0.01;
        /// How far a near token falls short of the drawn one.
        const NEAR: f32 = 0.5;
        /// How far a far token rises above the drawn one.
        const FAR: f32 = 2.0;

        /// A model that drew `drawn` (words of the vocabulary) after a one-token prompt, with
        /// `ties` (answer position, word) flipped by a hair in its re-scoring logits.
        fn drew(drawn: &[&str], ties: &[(usize, &str)]) -> Self {
            let vocabulary = vec![
                "<prompt>", SPECIAL, ".", " ", "The", " The", " w", " water", "ater", " is",
                " cold", " c", "old", " and", " clear", END, "is", "<E2>", "<9C>", "<A8>",
                "<E2 9C>", "<A8 E2>", "<9F>",
            ];
            let mut toy = Self {
                vocabulary,
                prompt: vec![0],
                drawn: Vec::new(),
                ties: Vec::new(),
                near: Vec::new(),
                far: Vec::new(),
                lures: Vec::new(),
                fog: false,
                kept: RefCell::default(),
                ran: Cell::default(),
                requests: Cell::default(),
            };
            toy.drawn = drawn.iter().map(|word| toy.id(word)).collect();
            toy.ties = ties.iter().map(|&(at, word)| (at, toy.id(word))).collect();
            toy
        }

        /// The same, with `word` falling [`Toy::NEAR`] short of the drawn token at `at`.
        fn near(mut self, at: usize, word: &str) -> Self {
            self.near.push((at, self.id(word)));
            self
        }

        /// The same, with `word` [`Toy::FAR`] above the drawn token at `at`: the model would
        /// never have drawn it there.
        fn far(mut self, at: usize, word: &str) -> Self {
            self.far.push((at, self.id(word)));
            self
        }

        /// The same, wanting `word` after the answer tokens `after` (off the drawn answer).
        fn lure(mut self, after: &[&str], word: &str) -> Self {
            let after = after.iter().map(|word| self.id(word)).collect();
            self.lures.push((after, self.id(word)));
            self
        }

        /// The same, with no opinion off the drawn answer: every token there ties.
        fn fog(mut self) -> Self {
            self.fog = true;
            self
        }

        fn id(&self, word: &str) -> u32 {
            let found = self.vocabulary.iter().position(|known| *known == word);
            found.expect("a word of the toy vocabulary") as u32
        }

        /// The text its answer is served as (the first token's whitespace trimmed).
        fn served(&self) -> String {
            self.text(&self.drawn).trim_start().to_string()
        }

        /// The text of `tokens`, an unfinished character as U+FFFD.
        fn text(&self, tokens: &[u32]) -> String {
            let bytes: Vec<u8> = tokens
                .iter()
                .flat_map(|&token| self.bytes(token).to_vec())
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }

        fn bytes(&self, token: u32) -> &'static [u8] {
            match self.vocabulary[token as usize] {
                SPECIAL | END => &[],
                word => PIECES
                    .iter()
                    .find(|(piece, _)| *piece == word)
                    .map_or(word.as_bytes(), |(_, bytes)| bytes),
            }
        }

        /// The tokens of `sequence` a run over it need not run: the longest kept sequence it
        /// begins with, less its last token (the logits of a position come from the tokens
        /// before it).
        fn spared(&self, sequence: &[u32]) -> usize {
            let kept = self.kept.borrow();
            let spared = kept.iter().filter(|kept| sequence.starts_with(kept));
            spared.map(|kept| kept.len() - 1).max().unwrap_or(0)
        }

        fn greedy() -> SeededSampler {
            SeededSampler::new(&Pubkey::new_from_array([7; 32]), &Sampling::default())
        }
    }

    impl Forced for Toy {
        /// Logits at each position, none where a kept sequence spared the run.
        type Run = Vec<Option<Vec<f32>>>;

        async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
            let mut tokens = Vec::new();
            let mut rest = text.as_bytes();
            while !rest.is_empty() {
                // Text that is none of its tokens goes a byte at a time as token 0.
                let (token, length) = (2..self.vocabulary.len() as u32)
                    .map(|token| (token, self.bytes(token)))
                    .filter(|(_, bytes)| !bytes.is_empty() && rest.starts_with(bytes))
                    .map(|(token, bytes)| (token, bytes.len()))
                    .max_by_key(|&(_, length)| length)
                    .unwrap_or((0, 1));
                tokens.push(token);
                rest = &rest[length..];
            }
            Ok(tokens)
        }

        async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError> {
            Ok(self.text(tokens))
        }

        async fn ends(&self, token: u32) -> Result<bool, EngineError> {
            Ok(token == self.id(END))
        }

        async fn run(&self, sequence: Vec<u32>) -> Result<Self::Run, EngineError> {
            let spared = self.spared(&sequence);
            self.ran.set(self.ran.get() + sequence.len() - spared);
            self.requests.set(self.requests.get() + 1);
            let answer = &sequence[self.prompt.len()..];
            let rows = (0..sequence.len()).map(|position| {
                let mut row = vec![0.0; self.vocabulary.len()];
                let Some(at) = (position + 1).checked_sub(self.prompt.len()) else {
                    return row;
                };
                let on_path = answer[..at] == self.drawn[..at.min(self.drawn.len())];
                if answer[..at].contains(&self.id(END)) {
                    row[self.id(SPECIAL) as usize] = Self::SURE;
                    return row;
                }
                match self.drawn.get(at).filter(|_| on_path) {
                    Some(&next) => {
                        row[next as usize] = Self::SURE;
                        if let Some(&(_, tie)) = self.ties.iter().find(|(tied, _)| *tied == at) {
                            row[tie as usize] = Self::SURE + Self::HAIR;
                        }
                        if let Some(&(_, near)) = self.near.iter().find(|(near, _)| *near == at) {
                            row[near as usize] = Self::SURE - Self::NEAR;
                        }
                        if let Some(&(_, far)) = self.far.iter().find(|(far, _)| *far == at) {
                            row[far as usize] = Self::SURE + Self::FAR;
                        }
                    }
                    None if self.fog => row.fill(Self::SURE),
                    None => {
                        let lure = self.lures.iter().find(|(after, _)| **after == answer[..at]);
                        let wanted = lure.map_or(self.id("."), |&(_, word)| word);
                        row[wanted as usize] = Self::SURE;
                    }
                }
                row
            });
            let run = rows.enumerate();
            Ok(run
                .map(|(input, row)| (input >= spared).then_some(row))
                .collect())
        }

        async fn keep(&self, sequence: &[u32]) -> Result<(), EngineError> {
            // Keeping runs the model over the sequence less its last token, as mistral.rs does.
            let spared = self.spared(sequence);
            let kept = sequence.len().saturating_sub(1).max(spared);
            self.ran.set(self.ran.get() + kept - spared);
            self.requests.set(self.requests.get() + 1);
            self.kept.borrow_mut().push(sequence.to_vec());
            Ok(())
        }

        fn row(&self, run: &Self::Run, position: usize) -> Result<Vec<f32>, EngineError> {
            run[position - 1]
                .clone()
                .ok_or_else(|| EngineError::Rescore {
                    model: "toy".into(),
                    source: format!(
                        "no logits at position {position}: a kept sequence spared them"
                    )
                    .into(),
                })
        }
    }

    /// Re-scores the toy's served answer with the greedy sampler.
    fn rescored(toy: &Toy) -> Vec<TokenScore> {
        rescored_within(toy, &toy.served(), RUNS_PER_TOKEN).scores
    }

    /// Re-scores `answer` on the toy with the greedy sampler, within `runs_per_token`.
    fn rescored_within(toy: &Toy, answer: &str, runs_per_token: usize) -> Rescoring {
        let sampler = Toy::greedy();
        let rescoring = rescore_within(toy, &toy.prompt, &sampler, answer, runs_per_token);
        let rescoring = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(rescoring)
            .expect("the toy re-scores");
        assert_eq!(rescoring.runs, toy.requests.get(), "requests counted");
        rescoring
    }

    /// Every token is the model's choice but the one at `tied`, a hair short of it.
    fn assert_only_a_hair_short_at(tied: usize, scores: &[TokenScore]) {
        let margins: Vec<f64> = scores.iter().map(|score| score.margin).collect();
        let hair = f64::from(Toy::HAIR) * 1.01;
        assert!(
            margins
                .iter()
                .enumerate()
                .all(|(at, &margin)| { margin == 0.0 || (at == tied && margin <= hair) }),
            "{margins:?}"
        );
    }

    /// The toy that drew `drawn` re-scores as exactly the drawn tokens, each the model's choice.
    fn assert_drawn_found(drawn: &[&str]) {
        let toy = Toy::drew(drawn, &[]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
    }

    /// The toy that drew `drawn`, with `tie` flipped by a hair, re-scores as exactly the drawn
    /// tokens, each the choice but the tied one, a hair short of it.
    fn assert_drawn_kept_despite_a_tie(drawn: &[&str], tie: (usize, &str)) {
        let toy = Toy::drew(drawn, &[tie]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        assert_only_a_hair_short_at(tie.0, &scores);
    }

    fn tokens(scores: &[TokenScore]) -> Vec<u32> {
        scores.iter().map(|score| score.token).collect()
    }

    #[test]
    fn the_text_s_own_tokens_when_the_server_drew_them() {
        // Its first token's whitespace is trimmed from the text, which tokenizes as "The".
        assert_drawn_found(&[" The", " water", " is", " cold", "."]);
    }

    #[test]
    fn another_split_of_the_text_when_the_server_drew_it() {
        // The text tokenizes as " water" and " cold"; the server drew " w", "ater", " c", "old",
        // and a special token, which adds no text.
        assert_drawn_found(&[" The", " w", "ater", SPECIAL, " c", "old", "."]);
    }

    #[test]
    fn a_drawn_token_is_kept_where_noise_lets_a_shorter_one_edge_it_out() {
        // The server drew " water"; the re-scorer's logits put " w" a hair above it, and " w"
        // continues the text too. Taking " w" would leave "ater" to score, which the model
        // would never draw after it, and everything after would follow the wrong path.
        let drawn = [" The", " water", " is", " cold", " and", " clear", "."];
        assert_drawn_kept_despite_a_tie(&drawn, (1, " w"));
    }

    #[test]
    fn a_drawn_split_is_found_where_noise_lifts_a_token_that_does_not_fit_over_it() {
        // The server drew " w", "ater" where the text tokenizes as " water"; the re-scorer's
        // logits put " cold", which the text does not go on with, a hair above " w". Its
        // own token, " water", the model would never draw: the split must be found anyway.
        let drawn = [" The", " w", "ater", " is", " cold", " and", " clear", "."];
        assert_drawn_kept_despite_a_tie(&drawn, (1, " cold"));
    }

    #[test]
    fn a_drawn_shorter_token_is_found_where_noise_lifts_the_text_s_own_over_it() {
        // The server drew " w", "ater"; the re-scorer's logits put the text's own " water" a
        // hair above " w", so the text's token is the choice there, yet not what was drawn.
        let drawn = [" The", " w", "ater", " is", " cold", " and", " clear", "."];
        assert_drawn_kept_despite_a_tie(&drawn, (1, " water"));
    }

    #[test]
    fn the_end_of_an_answer_is_never_taken_where_noise_lifts_it_over_the_drawn_token() {
        // The re-scorer's logits put the end a hair above the drawn " is". A server that drew
        // it would have stopped there; past it the model only opens a new turn, a special token
        // that adds no text and so fits any text: weighed as a way of drawing the text, the end
        // would fall short of nothing.
        let drawn = [" The", " water", " is", " cold", " and", " clear", "."];
        assert_drawn_kept_despite_a_tie(&drawn, (2, END));
    }

    #[test]
    fn a_character_drawn_a_byte_a_token_is_found_where_the_text_tokenizes_it_otherwise() {
        // The server drew "✨" as its three bytes; the text tokenizes it as two tokens, the first
        // of them holding two bytes. The model's choice there, one byte, is no whole character:
        // its text alone never begins the rest of the answer.
        let drawn = [
            " The", " water", " is", "<E2>", "<9C>", "<A8>", " cold", ".",
        ];
        assert_drawn_found(&drawn);
    }

    #[test]
    fn a_run_of_characters_is_found_where_the_text_joins_each_to_the_next() {
        // The server drew a run of "✨", each as two tokens (the first holding two bytes); the
        // text tokenizes the run with tokens that hold the last byte of one and the first of
        // the next. At each character the model's choice, its last byte, finishes a character
        // the answer so far left unfinished: that adds a character (as many bytes as the
        // U+FFFD it replaces), not nothing as a special token does, however many there are.
        let characters = 2 * SPECIAL_TOKEN_ALLOWANCE as usize;
        let run = ["<E2 9C>", "<A8>"].into_iter().cycle().take(2 * characters);
        let drawn: Vec<&str> = [" The", " water", " is"]
            .into_iter()
            .chain(run)
            .chain([" cold", "."])
            .collect();
        assert_drawn_found(&drawn);
    }

    #[test]
    fn a_character_s_bytes_are_found_where_noise_lifts_another_character_s_byte_over_one() {
        // "✨" drawn as its three bytes, with `<9F>` a hair above its second: "\u{E2}\u{9F}" is
        // as unfinished as "\u{E2}\u{9C}" (both decode as U+FFFD), but finishes another
        // character ("⟨"), not the text's.
        let drawn = [
            " The", " water", " is", "<E2>", "<9C>", "<A8>", " cold", ".",
        ];
        assert_drawn_kept_despite_a_tie(&drawn, (4, "<9F>"));
    }

    #[test]
    fn a_character_s_bytes_are_found_where_noise_lifts_another_token_over_one_of_them() {
        // As above, with " cold", which does not finish the character, a hair above its second
        // byte: the byte is what the server drew.
        let drawn = [
            " The", " water", " is", "<E2>", "<9C>", "<A8>", " cold", ".",
        ];
        assert_drawn_kept_despite_a_tie(&drawn, (4, " cold"));
    }

    #[test]
    fn a_way_weighed_runs_the_model_only_over_the_tokens_its_look_ahead_reads() {
        // A long answer (its text's own tokens) with a tie at its second token: the way the tie
        // offers is weighed over its look-ahead, not over the rest of the answer, and not kept.
        let sentence = [" The", " water", " is", " cold", " and", " clear", "."];
        let rest = sentence.iter().cycle().take(8 * sentence.len()).skip(1);
        let drawn: Vec<&str> = ["The"].into_iter().chain(rest.copied()).collect();
        let toy = Toy::drew(&drawn, &[(1, " w")]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        let whole = toy.prompt.len() + toy.drawn.len();
        let (ran, window) = (toy.ran.get(), 1 + LOOKAHEAD_TOKENS);
        assert!(
            ran <= whole + window,
            "{ran} tokens run for an answer of {whole}"
        );
    }

    #[test]
    fn a_near_tie_no_way_of_the_text_fits_keeps_nothing_and_runs_nothing() {
        // " and" falls a near-tie short of the drawn " is", yet the text goes on " is": no way
        // of drawing it turns there. Keeping the answer's state costs a model request (mistral.rs
        // runs the tokens since the last one kept), so nothing is kept where nothing will run.
        let toy = Toy::drew(&["The", " water", " is", " cold", "."], &[]).near(2, " and");
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        assert_eq!(toy.kept.borrow().len(), 0, "kept {:?}", toy.kept.borrow());
        assert_eq!(toy.ran.get(), toy.prompt.len() + toy.drawn.len());
    }

    #[test]
    fn characters_drawn_a_byte_a_token_cost_look_aheads_not_runs_over_the_rest() {
        // A long answer with a "✨" drawn as its three bytes in every sentence: each is a way
        // kept. It costs a few look-aheads (the text's own, the way's, the turn inside the
        // way's to the next such character and what finishing that character runs), and the
        // answer after it runs on from the way's look-ahead, not over the rest again.
        let sentence = [
            " The", " water", " is", "<E2>", "<9C>", "<A8>", " cold", ".",
        ];
        let characters = 16;
        let rest = sentence.iter().cycle().take(characters * sentence.len());
        let drawn: Vec<&str> = ["The"].into_iter().chain(rest.skip(1).copied()).collect();
        let toy = Toy::drew(&drawn, &[]);
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        let whole = toy.prompt.len() + toy.drawn.len();
        let (ran, window) = (toy.ran.get(), 1 + LOOKAHEAD_TOKENS);
        assert!(
            ran <= whole + characters * 5 * window,
            "{ran} tokens run for an answer of {whole}"
        );
    }

    #[test]
    fn a_way_that_fits_the_text_only_at_positions_it_skips_loses_to_the_drawn_one() {
        // The server drew " is", then " c", "old" where the text tokenizes " cold". " " falls a
        // near-tie short of " is", and off the drawn answer the model is led on after it
        // ("is", then " c" where that way has " cold", then the rest of the text as it
        // tokenizes). Scoring the " " way only where its tokens are not what the model would
        // turn to (another split of the text) makes it look all but perfect, against the
        // text's own " cold", which the model would turn from to " c" too.
        let drawn = [" The", " water", " is", " c", "old", " and", " clear", "."];
        let lured = [" The", " water", " "];
        let toy = Toy::drew(&drawn, &[])
            .near(2, " ")
            .lure(&lured, "is")
            .lure(&[&lured[..], &["is"]].concat(), " c")
            .lure(&[&lured[..], &["is", " cold"]].concat(), " and")
            .lure(&[&lured[..], &["is", " cold", " and"]].concat(), " clear")
            .lure(
                &[&lured[..], &["is", " cold", " and", " clear"]].concat(),
                ".",
            );
        let scores = rescored(&toy);
        assert_eq!(tokens(&scores), toy.drawn, "{scores:?}");
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
    }

    #[test]
    fn a_text_with_a_way_at_every_position_costs_its_budget_and_one_position_s_weighing() {
        // The model has no opinion past "The": at every position " w" (then "ater") ties the
        // text's own " water", a way that fits. Each costs runs (keeping the answer's state,
        // running the way's look-ahead); a text made so (a substitute's " C C C …", or one
        // made to stall an auditor) costs a few runs a token, where re-scoring's budget allows
        // one. Past the budget the text's own tokens are scored.
        let toy = Toy::drew(&["The", "."], &[]).fog();
        let answer = format!("The{}", " water".repeat(128));
        let length = 129;
        let rescoring = rescored_within(&toy, &answer, 1);
        let own: Vec<u32> = [toy.id("The")]
            .into_iter()
            .chain([toy.id(" water"); 128])
            .collect();
        assert_eq!(tokens(&rescoring.scores), own);
        // A position's weighing: keeping the state, then each way's look-ahead with a turn at
        // every token of it.
        let position = 1 + MAX_TURNS * (1 + LOOKAHEAD_TOKENS);
        let requests = toy.requests.get();
        assert!(
            requests <= length + position,
            "{requests} model requests for {length} tokens"
        );
        assert!(
            rescoring.cut.is_some_and(|cut| cut < length),
            "{rescoring:?}"
        );
    }

    #[test]
    fn an_answer_drawn_split_otherwise_every_few_words_is_weighed_whole_within_the_budget() {
        // A costly honest answer: every fourth word drawn as two tokens where the text
        // tokenizes it as one, so each is a way kept, its look-ahead turning at the next. It
        // stays within the budget (91 requests for the 66 tokens of its text): it is found
        // whole. (Split at every word, an answer costs about 9 requests a token of its text,
        // over the budget: the budget is sized from the runs honest answers of the real model
        // take, the bench's figures.)
        let words = 64;
        let sentence = [" w", "ater", " is", " cold", " and"];
        let drawn: Vec<&str> = ["The"]
            .into_iter()
            .chain(
                sentence
                    .into_iter()
                    .cycle()
                    .take(words / 4 * sentence.len()),
            )
            .chain(["."])
            .collect();
        let toy = Toy::drew(&drawn, &[]);
        let rescoring = rescored_within(&toy, &toy.served(), RUNS_PER_TOKEN);
        assert_eq!(tokens(&rescoring.scores), toy.drawn);
        assert!(rescoring.scores.iter().all(|score| score.margin == 0.0));
        // The text tokenizes as "The", the words (" water" one token), ".".
        let length = words + 2;
        assert_eq!(
            rescoring.cut,
            None,
            "{} model requests, {} a token of the text's {length}",
            rescoring.runs,
            rescoring.runs as f64 / length as f64
        );
    }

    /// Confirms `scores` of the toy's answer on `served`, with the greedy sampler.
    fn confirmed(served: &Toy, scores: &mut [TokenScore]) -> Vec<usize> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(confirm(served, &served.prompt, &Toy::greedy(), scores))
            .expect("the toy confirms")
    }

    #[test]
    fn a_far_token_the_served_kernels_choose_does_not_count() {
        // The re-scorer's logits (F32) put " cold" far above the drawn " clear"; the server's
        // own kernels chose " clear". Scored again on them, the token is the model's choice.
        let drawn = [" The", " water", " is", " cold", " and", " clear", "."];
        let served = drawn.iter().cycle().take(6 * drawn.len());
        let drawn: Vec<&str> = ["The"].into_iter().chain(served.skip(1).copied()).collect();
        let rescorer = Toy::drew(&drawn, &[]).far(5, " cold");
        let mut scores = rescored(&rescorer);
        assert!(scores[5].margin >= FAR_MARGIN, "{scores:?}");
        assert_eq!(Rescored::of(&scores).verdict, Verdict::Inconsistent);
        let kernels = Toy::drew(&drawn, &[]);
        assert_eq!(confirmed(&kernels, &mut scores), [5]);
        assert_eq!(tokens(&scores), kernels.drawn, "{scores:?}");
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
        assert_eq!(Rescored::of(&scores).verdict, Verdict::Consistent);
        // One run over the answer up to the token.
        assert_eq!(kernels.ran.get(), kernels.prompt.len() + 5);

        // Three such: the first alone, then one run for the other two.
        let rescorer = Toy::drew(&drawn, &[])
            .far(5, " cold")
            .far(20, " cold")
            .far(30, " water");
        let mut scores = rescored(&rescorer);
        let kernels = Toy::drew(&drawn, &[]);
        assert_eq!(confirmed(&kernels, &mut scores), [5, 20, 30]);
        assert!(scores.iter().all(|score| score.margin == 0.0), "{scores:?}");
        let prompt = kernels.prompt.len();
        assert_eq!(kernels.ran.get(), (prompt + 5) + (prompt + 30));
    }

    #[test]
    fn a_far_token_the_served_kernels_would_not_choose_settles_the_verdict_at_once() {
        // Far on both: the first stays far, so the second is never run.
        let drawn = [" The", " water", " is", " cold", " and", " clear", "."];
        let served = drawn.iter().cycle().take(6 * drawn.len());
        let drawn: Vec<&str> = ["The"].into_iter().chain(served.skip(1).copied()).collect();
        let rescorer = Toy::drew(&drawn, &[]).far(5, " cold").far(20, " cold");
        let mut scores = rescored(&rescorer);
        let kernels = Toy::drew(&drawn, &[]).far(5, " cold").far(20, " cold");
        assert_eq!(confirmed(&kernels, &mut scores), [5]);
        assert_eq!(scores[5].margin, f64::from(Toy::FAR), "{scores:?}");
        assert_eq!(Rescored::of(&scores).verdict, Verdict::Inconsistent);
        assert_eq!(kernels.ran.get(), kernels.prompt.len() + 5);
    }
}
