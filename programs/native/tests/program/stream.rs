//! The answer path end to end on the runtime: the provider's sealer and batcher fill append
//! transactions, the client rebuilds the answer from the transactions' logs arriving out of
//! order and twice, and an auditor's bundle built from the same transactions verifies.

use crate::common::*;
use chainference::state::Request;
use chainference_client_core::answer::{AnswerOpener, AnswerSealer};
use chainference_client_core::batcher::{pack, PendingAnswer, TxShape};
use chainference_client_core::envelope::*;
use chainference_client_core::instructions::append_batch;
use chainference_client_core::stream::{chunk_batches, chunks_of, StreamAssembler};
use chainference_native::svm::solana_signer::Signer;
use chainference_prover::bundle::*;
use chainference_prover::change_log::parse_change_log;
use chainference_prover::core::{batch_root, fee_for};
use chainference_prover::verify::verify;

fn words(count: usize) -> Vec<String> {
    let mut state = 7u64;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let letters = 2 + (state >> 61) as usize;
            std::iter::once(' ')
                .chain((0..letters).map(|i| (b'a' + ((state >> (i * 5)) % 26) as u8) as char))
                .collect()
        })
        .collect()
}

#[test]
fn an_answer_streams_back_out_of_order_and_audits() {
    let mut w = World::new(100);
    let (operator, tree, request) = w.ready_request(offer(1_000_000, 2_000_000), 10_000_000, 5_000);

    let context = KeyContext {
        genesis_hash: [0; 32],
        program_id: chainference::ID.to_bytes(),
        request: request.to_bytes(),
    };
    let signature = ClientSignature::from_two([4; 64], [4; 64]).expect("deterministic");
    let operator_seed: [u8; 32] = operator.to_bytes()[..32].try_into().expect("a seed");
    let server_public = server_public_key(&operator_seed, &context);
    let (client_public, client_key) =
        client_session(&signature, &server_public, &context).expect("client");
    let (_, server_key) = server_session(&operator_seed, &client_public, &context).expect("server");

    // The provider: 1,500 tokens flushed every 300, packed into legacy transactions.
    let text = words(1_500);
    let mut sealer = AnswerSealer::new(server_key, context, Compression::Zstd, 0).expect("sealer");
    let shape = TxShape {
        versioned: false,
        compute_unit_limit: false,
        compute_unit_price: false,
    };
    let mut transactions = Vec::new();
    for (i, flush) in text.chunks(300).enumerate() {
        for word in flush {
            sealer.push(word, 1).expect("push");
        }
        sealer.flush().expect("flush");
        let finish = (i + 1 == text.len() / 300).then_some(FinishReason::Stop);
        while !sealer.is_finished() && (sealer.pending_len() > 0 || finish.is_some()) {
            let mut pending = [PendingAnswer {
                request,
                tree,
                sealer: &mut sealer,
                finish,
            }];
            for append in pack(&shape, &mut pending).expect("pack") {
                let hashes: Vec<_> = append
                    .chunks
                    .iter()
                    .map(|c| c.hash(&request.to_bytes()))
                    .collect();
                let root = batch_root(&hashes).expect("a batch");
                let ix = append_batch(&operator.pubkey(), &request, &tree, root, &append.chunks);
                transactions.push(assert_ok(w.h.send(&[ix], &operator, &[])));
            }
        }
    }
    assert!(transactions.len() > 5, "{} appends", transactions.len());

    // The client: each transaction's events, delivered in a scrambled order with repeats.
    let events: Vec<_> = transactions
        .iter()
        .flat_map(|meta| chunk_batches(&meta.logs, &chainference::ID))
        .collect();
    assert_eq!(events.len(), transactions.len());
    let mut order: Vec<usize> = (0..events.len()).rev().collect();
    order.extend([0, events.len() / 2, 1]);
    let mut assembler = StreamAssembler::new(request, 5_000);
    let mut delivered = Vec::new();
    for (step, i) in order.into_iter().enumerate() {
        delivered.extend(assembler.offer(events[i].clone()).expect("a genuine batch"));
        if step == 0 && events.len() > 1 {
            assert_eq!(assembler.missing(), Some(0), "a gap to backfill");
        }
    }
    assert_eq!(assembler.missing(), None);
    let mut opener = AnswerOpener::new(client_key, context, Compression::Zstd).expect("opener");
    let mut shown = String::new();
    for batch in &delivered {
        for chunk in chunks_of(batch) {
            shown.push_str(&opener.open(&chunk).expect("opens"));
        }
    }
    assert_eq!(shown, text.concat());
    assert_eq!(opener.finish_reason(), Some(FinishReason::Stop));
    let on_chain: Request = w.request(&request);
    assert_eq!(
        (assembler.cursor().chain, assembler.cursor().tokens),
        (on_chain.response.chain, 1_500)
    );

    // The auditor: the same transactions, their change logs and the settlement make a bundle
    // that verifies offline.
    assert_ok(w.complete(&operator, &request));
    let settled = w.request(&request);
    let batches = transactions
        .iter()
        .zip(&events)
        .map(|(meta, event)| {
            let change_log = meta
                .inner_instructions
                .iter()
                .flatten()
                .find_map(|inner| parse_change_log(&inner.instruction.data).ok())
                .expect("a change log");
            BundleBatch {
                signature: meta.signature.to_string(),
                slot: 0,
                leaf_index: event.leaf_index as u32,
                root: *change_log.root().expect("a root"),
                proof: event.proof.clone(),
                chunks: chunks_of(event),
            }
        })
        .collect();
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        program_id: chainference::ID.to_bytes(),
        genesis_hash: [0; 32],
        request: request.to_bytes(),
        client: settled.client.to_bytes(),
        server: settled.lock.server.to_bytes(),
        tree: tree.to_bytes(),
        terms: BundleTerms {
            model: settled.terms.model.clone(),
            prompt_tokens: settled.terms.prompt_tokens,
            max_output_tokens: settled.terms.max_output_tokens,
            stake: settled.stake,
            input_price: settled.lock.input_price,
            output_price: settled.lock.output_price,
            fee_bps: settled.lock.fee_bps,
            direct: false,
        },
        batches,
        chain: settled.response.chain,
        settlement: BundleSettlement {
            answer_tokens: settled.response.tokens,
            bill: settled.settlement.bill,
            fee: settled.settlement.fee,
        },
        acknowledgement: None,
    };
    let verified = verify(&bundle).expect("the audit passes");
    assert_eq!(
        (verified.answer_tokens, verified.bill),
        (1_500, settled.settlement.bill)
    );
    assert_eq!(
        settled.settlement.fee,
        fee_for(settled.settlement.bill, 100)
    );
}
