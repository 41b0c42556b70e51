//! `chainference audit REQUEST` rebuilds one answer's transcript from the finalized ledger,
//! proves every leaf against the root of its own append, checks the sequence, the hash chain
//! and the bill, against the receipt once the request is closed, optionally against the
//! Request account or the receipt's state tree, decrypted with the client's key,
//! and writes the bundle (a direct answer's chunks come from the client's saved answer under
//! --answers-dir); with the key, the server's token claims are checked against the text as
//! `ask` checks them. `chainference verify BUNDLE` checks a bundle offline.

use super::{print_json, request_address, Global, Output};
use anyhow::{anyhow, Context, Result};
use chainference::state::Request;
use chainference_client::audit::{
    check_account, check_receipt, decrypt_checked, request_key, transcript, AuditKey, Decrypted,
    Transcript,
};
use chainference_client::claims::ClaimReport;
use chainference_client::direct::SavedAnswer;
use chainference_client::envelope::SessionKey;
use chainference_client::rescore::{Rescored, TokenScore, Verdict};
use chainference_client::wallet::{expand_home, read_keypair};
use chainference_prover::bundle::Bundle;
use chainference_prover::verify::{verify, Verified};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// `audit`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct AuditArgs {
    /// The request's address.
    pub request: String,
    /// The client's keypair, to decrypt the answer too and check its token claims against
    /// its text.
    #[arg(long, value_name = "KEYPAIR")]
    pub key: Option<PathBuf>,
    /// The key the client disclosed for this request (`chainference disclose`), instead of
    /// its keypair: it opens this request's prompt and answer only.
    #[arg(long, value_name = "HEX", conflicts_with = "key")]
    pub request_key: Option<String>,
    /// Re-score the answer with the weights it was served with (a GGUF file or a folder of
    /// safetensors, whose SHA-256 must be the one the server pinned at lock): how many tokens
    /// are the model's own choice under the request's seed, and a verdict (needs --key or
    /// --request-key).
    #[cfg(feature = "mistralrs")]
    #[arg(long, value_name = "WEIGHTS")]
    pub replay: Option<PathBuf>,
    /// Re-score a GGUF on its weights dequantized to F32: several times faster on a CPU, at
    /// about eight times a 4-bit file's size in memory (auto: when that is at most half the
    /// memory available).
    #[cfg(feature = "mistralrs")]
    #[arg(long, value_enum, default_value_t, requires = "replay")]
    pub dequantize: super::dequantize::Dequantize,
    /// Write the transcript bundle (JSON) here, for `chainference verify` anywhere.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Also check the transcript against the Request account (while it exists), and a closed
    /// request's receipt against its Light state tree.
    #[arg(long = "check-chain")]
    pub check_chain: bool,
    /// The model's `tokenizer.json`: count the decrypted answer's tokens with it and report any
    /// difference from the tokens the server claimed (needs --key).
    #[cfg(feature = "mistralrs")]
    #[arg(long, value_name = "TOKENIZER_JSON", requires = "key")]
    pub tokenizer: Option<PathBuf>,
}

/// The answer's tokens as the model's tokenizer counts them, next to the server's claim.
#[derive(Clone, Copy, Debug)]
struct Recount {
    counted: usize,
    claimed: u32,
}

#[cfg(feature = "mistralrs")]
fn recount(args: &AuditArgs, text: Option<&str>, claimed: u32) -> Result<Option<Recount>> {
    let (Some(path), Some(text)) = (&args.tokenizer, text) else {
        return Ok(None);
    };
    let tokenizer = tokenizers::Tokenizer::from_file(path)
        .map_err(|error| anyhow!("cannot load the tokenizer {}: {error}", path.display()))?;
    let encoding = tokenizer
        .encode(text, false)
        .map_err(|error| anyhow!("the tokenizer {} failed: {error}", path.display()))?;
    Ok(Some(Recount {
        counted: encoding.len(),
        claimed,
    }))
}

#[cfg(not(feature = "mistralrs"))]
fn recount(_: &AuditArgs, _: Option<&str>, _: u32) -> Result<Option<Recount>> {
    Ok(None)
}

/// What re-scoring found.
struct Replayed {
    /// The weights' digest, hex.
    weights: String,
    /// Every answer token's score.
    scores: Vec<TokenScore>,
    /// Their sum.
    rescored: Rescored,
    /// Seconds the model took over prompt and answer.
    seconds: f64,
    /// Whether the weights ran dequantized to F32 (`--dequantize`).
    dequantized: bool,
    /// The positions of tokens that fell far short on F32, scored again on the file's own
    /// quantized kernels.
    confirmed: Vec<usize>,
    /// Requests re-scoring made to the model.
    runs: usize,
    /// The requests it weighed other ways of drawing the text within.
    budget: usize,
    /// Where it stopped weighing other ways of drawing the text, its budget spent.
    cut: Option<usize>,
}

/// Re-scores the decrypted answer with the weights `--replay` names, refused unless they are
/// the ones the server pinned when it locked the request.
#[cfg(feature = "mistralrs")]
async fn replay(
    args: &AuditArgs,
    address: &anchor_lang::prelude::Pubkey,
    transcript: &Transcript,
    decrypted: Option<&Decrypted>,
) -> Result<Option<Replayed>> {
    use super::dequantize;
    use chainference_client::sampling::SeededSampler;
    use chainference_client::weights::digest_hex;
    use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
    use chainference_provider::engine::{Engine, Rescoring};
    let Some(path) = &args.replay else {
        return Ok(None);
    };
    let decrypted = decrypted.ok_or_else(|| {
        anyhow!("--replay needs the answer decrypted: pass --key (the client's keypair) or --request-key (the key it disclosed)")
    })?;
    let pinned = transcript.pinned_weights().ok_or_else(|| {
        anyhow!("the request was never locked, so no weights were pinned for it: there is nothing to re-score")
    })?;
    let path = expand_home(path);
    let model = transcript.bundle.terms.model.clone();
    // Loading digests the file (what the engine would pin); no token is scored before the
    // digest is compared.
    let engine = MistralEngine::load_to_rescore(&[MistralModel {
        id: model.clone(),
        path: path.clone(),
    }])
    .await?;
    let digest = engine.weights(&model).unwrap_or_default();
    if digest != pinned {
        return Err(anyhow!(
            "the weights at {} (sha256 {}) are not those the server pinned for this answer (sha256 {}): re-score with the pinned file (`chainference models` lists each offer's digest)",
            path.display(),
            digest_hex(&digest),
            digest_hex(&pinned)
        ));
    }
    let sampler = SeededSampler::new(address, &decrypted.prompt.sampling);
    let start = std::time::Instant::now();
    let Rescoring {
        mut scores,
        runs,
        budget,
        cut,
    } = engine
        .rescore(&model, &decrypted.prompt, &sampler, &decrypted.text)
        .await?;
    let dequantized = dequantize::is_on();
    let mut rescored = Rescored::of(&scores);
    let mut confirmed = Vec::new();
    if dequantized && rescored.far > 0 {
        drop(engine);
        let job = dequantize::Confirmation {
            weights: path,
            pinned,
            model,
            request: address.to_bytes(),
            prompt: decrypted.prompt.clone(),
            scores,
        };
        let again = dequantize::confirm_far_tokens(&job).await?;
        (scores, confirmed) = (again.scores, again.positions);
        rescored = Rescored::of(&scores);
    }
    Ok(Some(Replayed {
        weights: digest_hex(&digest),
        rescored,
        scores,
        seconds: start.elapsed().as_secs_f64(),
        dequantized,
        confirmed,
        runs,
        budget,
        cut,
    }))
}

/// What `audit` settles before the runtime starts: whether `--replay` runs on dequantized
/// weights (candle reads that once per thread, so the process must still be one thread).
#[cfg(feature = "mistralrs")]
pub fn prepare(args: &AuditArgs) -> Result<()> {
    use super::dequantize::{decide, turn_on};
    if let Some(path) = &args.replay {
        if decide(&expand_home(path), args.dequantize)? {
            turn_on();
        }
    }
    Ok(())
}

#[cfg(not(feature = "mistralrs"))]
async fn replay(
    _: &AuditArgs,
    _: &anchor_lang::prelude::Pubkey,
    _: &Transcript,
    _: Option<&Decrypted>,
) -> Result<Option<Replayed>> {
    Ok(None)
}

/// A request key as `disclose` prints it: 64 hex digits.
fn disclosed_key(hex: &str) -> Result<SessionKey> {
    let invalid = || {
        anyhow!("--request-key {hex} is not a request key: give the 64 hex digits `chainference disclose REQUEST` printed")
    };
    let digits = hex.trim().as_bytes();
    if digits.len() != 64 {
        return Err(invalid());
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(SessionKey::from_disclosed(key))
}

/// Prints the key that opens `request`'s prompt and answer (this wallet's request).
pub async fn run_disclose(global: &Global, request: &str) -> Result<()> {
    let address = request_address(request)?;
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let key = request_key(&chain, &wallet, &address).await?;
    let hex: String = key
        .disclose()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if global.output == Output::Json {
        print_json(&json!({"request": address.to_string(), "request_key": hex}));
        return Ok(());
    }
    println!("{hex}");
    eprintln!("This key opens request {address}'s prompt and answer, and nothing else of this wallet's. An auditor runs: chainference audit {address} --request-key {hex}");
    Ok(())
}

/// The re-scoring's figures and verdict, one paragraph.
fn replay_lines(replayed: &Replayed) -> String {
    let Rescored {
        tokens,
        own_choice,
        far,
        ranks,
        mean_logprob,
        mean_margin,
        verdict,
        ..
    } = &replayed.rescored;
    let cut = replayed.cut.map_or(String::new(), |cut| {
        format!(
            " Other ways of drawing the text were weighed before token {cut} only (re-scoring's budget of {} model runs was spent there): past it the text's own tokens are scored, which takes excuses away and adds none.",
            replayed.budget
        )
    });
    let verdict = match verdict {
        Verdict::Consistent => "consistent with the pinned weights",
        Verdict::Inconsistent => "INCONSISTENT with the pinned weights",
        Verdict::TooShortToTell => "too short to tell",
    };
    format!(
        "Re-scored with weights {}{} in {:.2} s ({} model runs): {own_choice} of {tokens} tokens are the model's own choice under the request's seed, {far} fall {} or more short of it{}; ranks 1 / 2-5 / 6-50 / over 50: {} / {} / {} / {}; mean log-probability {mean_logprob:.3}; mean margin {mean_margin:.3} (consistent up to {}, from {} tokens on).{cut} Verdict: {verdict}.",
        replayed.weights,
        if replayed.dequantized {
            " (dequantized to F32)"
        } else {
            ""
        },
        replayed.seconds,
        replayed.runs,
        chainference_client::rescore::FAR_MARGIN,
        match replayed.confirmed.len() {
            0 => String::new(),
            scored => format!(
                " ({scored} that did on F32 scored again on the file's own quantized kernels, as the server ran them)"
            ),
        },
        ranks[0],
        ranks[1],
        ranks[2],
        ranks[3],
        chainference_client::rescore::MAX_MEAN_MARGIN,
        chainference_client::rescore::MIN_TOKENS,
    )
}

/// Audits one request.
pub async fn run(global: &Global, args: &AuditArgs) -> Result<()> {
    let address = request_address(&args.request)?;
    let chain = global.chain().await?;
    let saved_path = SavedAnswer::path_in(&global.answers_dir(), &address);
    let saved = saved_path
        .exists()
        .then(|| SavedAnswer::read(&saved_path))
        .transpose()?;
    let transcript = transcript(&chain, &address, saved.as_ref()).await?;
    let bundle = &transcript.bundle;
    let verified = verify(bundle).map_err(|error| anyhow!("the audit fails: {error}"))?;
    let receipt = transcript.receipt();
    if let Some(written) = receipt {
        check_receipt(bundle, &written.receipt)
            .map_err(|error| anyhow!("the audit fails: {error}"))?;
    }
    let receipt_leaf = match (receipt, args.check_chain) {
        (Some(written), true) => Some(
            chain
                .check_receipt(written)
                .await?
                .map_err(|error| anyhow!("the audit fails: {error}"))?,
        ),
        _ => None,
    };
    let account_checked = if args.check_chain {
        let account: Option<Request> = chain.account(&address, "Request").await?;
        match account {
            Some(account) => {
                check_account(bundle, &account)
                    .map_err(|error| anyhow!("the audit fails: {error}"))?;
                Some(true)
            }
            None => Some(false),
        }
    } else {
        None
    };
    let wallet = args
        .key
        .as_ref()
        .map(|path| read_keypair(&expand_home(path)))
        .transpose()?;
    let key = match (&wallet, &args.request_key) {
        (Some(wallet), _) => Some(AuditKey::Wallet(wallet)),
        (None, Some(hex)) => Some(AuditKey::Disclosed(disclosed_key(hex)?)),
        (None, None) => None,
    };
    let decrypted = key
        .map(|key| decrypt_checked(&chain, key, &transcript))
        .transpose()?;
    let replayed = replay(args, &address, &transcript, decrypted.as_ref()).await?;
    let (text, claims) = match decrypted {
        Some(Decrypted { text, claims, .. }) => (Some(text), Some(claims)),
        None => (None, None),
    };
    let recounted = recount(args, text.as_deref(), verified.answer_tokens)?;
    if let Some(path) = &args.bundle {
        std::fs::write(path, bundle.to_json()).with_context(|| {
            format!(
                "cannot write the bundle to {}: pick a writable --bundle path",
                path.display()
            )
        })?;
    }
    if global.output == Output::Json {
        print_json(&json!({
            "request": address.to_string(),
            "passed": true,
            "chunks": verified.chunks,
            "batches": verified.batches,
            "answer_tokens": verified.answer_tokens,
            "bill_lamports": verified.bill,
            "account_checked": account_checked,
            "receipt_checked": receipt.is_some(),
            "receipt_leaf_index": receipt_leaf.map(|leaf| leaf.leaf_index),
            "answer": text,
            "claims": claims.map(|claims| json!({
                "claimed_tokens": claims.claimed,
                "text_bytes": claims.text_bytes,
                "allowance": claims.allowance,
                "batches": claims.batches,
                "plausible": claims.plausible(),
                "verdict": if claims.plausible() { "plausible" } else { "overclaimed" },
            })),
            "tokenizer": recounted.map(|recount| json!({"counted": recount.counted, "claimed": recount.claimed})),
            "replay": replayed.as_ref().map(|replayed| json!({
                "weights_sha256": replayed.weights,
                "seconds": replayed.seconds,
                "dequantized": replayed.dequantized,
                "confirmed_on_quantized_kernels": replayed.confirmed,
                "model_runs": replayed.runs,
                "model_runs_budget": replayed.budget,
                "ways_stopped_at": replayed.cut,
                "summary": replayed.rescored,
                "tokens": replayed.scores,
            })),
            "bundle": args.bundle.as_ref().map(|path| path.display().to_string()),
        }));
        return Ok(());
    }
    print_verified(&address.to_string(), bundle, &verified);
    match account_checked {
        Some(true) => println!("The Request account agrees: chain, tokens, bill, prices, stake."),
        Some(false) => {
            println!("The Request account is closed; the finalized ledger stands alone.")
        }
        None => {}
    }
    if receipt.is_some() {
        println!(
            "Its receipt agrees: parties, model, tree, hash chain, leaves, tokens, bill, fee."
        );
    }
    if let Some(leaf) = receipt_leaf {
        println!(
            "The receipt is leaf {} of Light state tree {} (found in the tree's change log).",
            leaf.leaf_index, leaf.tree
        );
    }
    if let Some(path) = &args.bundle {
        println!(
            "Bundle written to {} (check it anywhere: `chainference verify {}`).",
            path.display(),
            path.display()
        );
    }
    match &claims {
        Some(claims) => println!("{}", claims_line(claims)),
        None => {
            println!("Token claims are checked against the text with --key (the client's keypair).")
        }
    }
    if let Some(Recount { counted, claimed }) = recounted {
        let difference = counted as i64 - i64::from(claimed);
        println!("The model's tokenizer counts {counted} answer tokens; the server claimed {claimed} (difference {difference:+}).");
    }
    if let Some(replayed) = &replayed {
        println!("{}", replay_lines(replayed));
    }
    if let Some(text) = text {
        println!("\n{text}");
    }
    Ok(())
}

/// The verdict on the answer's token claims against its decrypted text.
fn claims_line(claims: &ClaimReport) -> String {
    match claims.overclaim {
        None => format!(
            "Token claims hold: {} tokens claimed for {} bytes of text (a token is at least one byte of text, {} allowed for tokens without text).",
            claims.claimed, claims.text_bytes, claims.allowance
        ),
        Some(overclaim) => format!(
            "Token claims FAIL: {overclaim}. The server claimed more tokens than its text can hold (`ask` flags such an answer; else `chainference flag REQUEST` inside its flag window)."
        ),
    }
}

/// `chainference verify BUNDLE`: checks a bundle offline, with no RPC.
pub fn run_verify(global: &Global, path: &std::path::Path) -> Result<()> {
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the bundle {}", path.display()))?;
    let bundle = Bundle::from_json(&json).with_context(|| {
        format!(
            "{} is not a transcript bundle (write one with `chainference audit --bundle`)",
            path.display()
        )
    })?;
    let verified = verify(&bundle).map_err(|error| anyhow!("the bundle fails: {error}"))?;
    let request = anchor_lang::prelude::Pubkey::new_from_array(bundle.request).to_string();
    if global.output == Output::Json {
        print_json(&json!({
            "request": request,
            "passed": true,
            "chunks": verified.chunks,
            "batches": verified.batches,
            "answer_tokens": verified.answer_tokens,
            "bill_lamports": verified.bill,
        }));
    } else {
        print_verified(&request, &bundle, &verified);
    }
    Ok(())
}

fn print_verified(request: &str, bundle: &Bundle, verified: &Verified) {
    println!(
        "Request {request} ({}): {} chunks in {} batches, every leaf proven against the root of its own append; the hash chain holds.",
        bundle.terms.model, verified.chunks, verified.batches
    );
    println!(
        "Billed {} answer tokens (= posted, within {}) and {} prompt tokens: {} lamports, fee {}, within the stake of {}.",
        verified.answer_tokens,
        bundle.terms.max_output_tokens,
        bundle.terms.prompt_tokens,
        verified.bill,
        bundle.settlement.fee,
        bundle.terms.stake
    );
}
