//! Compute and memory as a cluster meters them, on the sBPF build: the largest batch a
//! transaction can carry appends within the heap, and the appends a provider sends fit the
//! compute units it asks for when it pays a priority fee. Run with `--nocapture` to see the
//! measured figures (COMPUTE.md lists them).

use crate::common::*;
use chainference::events::Chunk;
use chainference_client_core::batcher::{
    AppendShape, TxShape, APPEND_COMPUTE_UNITS, COMPLETION_BYTES, PACKET_DATA_SIZE,
};
use chainference_client_core::instructions::{set_compute_unit_limit, set_compute_unit_price};
use chainference_native::svm::litesvm::types::TransactionMetadata;
use chainference_native::svm::solana_signer::Signer;
use chainference_prover::core::MAX_BATCH_CHUNKS;

/// How a provider that pays a priority fee shapes its appends when its lookup table is not
/// used: the largest transactions of all, every key inline.
const PRICED_LEGACY: TxShape = TxShape {
    versioned: false,
    compute_unit_limit: true,
    compute_unit_price: true,
};

/// The smallest chunk the program takes: no ciphertext at all (a sealed one has at least the
/// AEAD tag, but a server may send anything).
const SMALLEST: usize = 0;

/// A chunk at `seq` with `len` ciphertext bytes.
fn chunk(seq: u32, len: usize, is_final: bool) -> Chunk {
    Chunk {
        seq,
        tokens: 1,
        is_final,
        nonce: [seq as u8; 24],
        ciphertext: (0..len).map(|i| (i * 7 + seq as usize) as u8).collect(),
    }
}

/// The compute-budget instructions a provider sends before `appends` appends.
fn priced_budget(appends: u32) -> Vec<anchor_lang::solana_program::instruction::Instruction> {
    vec![
        set_compute_unit_limit(APPEND_COMPUTE_UNITS * appends),
        set_compute_unit_price(1),
    ]
}

/// Prints what `meta` consumed under `what` and returns it.
fn measured(what: &str, meta: &TransactionMetadata) -> u64 {
    println!("{what}: {} CU", meta.compute_units_consumed);
    meta.compute_units_consumed
}

#[test]
fn the_largest_batch_a_transaction_carries_appends() {
    let mut w = World::new(100);
    let (operator, tree, request) = w.ready_request(offer(1_000, 2_000), 1_000_000_000, 10_000);
    // As many of the smallest sealed chunks as one priced legacy transaction holds.
    let mut lens: Vec<usize> = Vec::new();
    while lens.len() < MAX_BATCH_CHUNKS {
        let mut more = lens.clone();
        more.push(SMALLEST);
        let shape = AppendShape {
            tree,
            chunk_lens: more.clone(),
        };
        if PRICED_LEGACY.size(&[shape]) > PACKET_DATA_SIZE {
            break;
        }
        lens = more;
    }
    assert!(lens.len() > 10, "{} chunks fit", lens.len());
    let chunks: Vec<Chunk> = (0..lens.len())
        .map(|seq| chunk(seq as u32, SMALLEST, false))
        .collect();
    let root = root_of(&request, &chunks);
    let mut instructions = priced_budget(1);
    instructions[0] = set_compute_unit_limit(200_000);
    instructions.push(append_ix(&operator, &request, &tree, root, chunks));
    let meta = assert_ok(w.h.send(&instructions, &operator, &[]));
    measured(
        &format!("append_batch, {} chunks of {SMALLEST} B", lens.len()),
        &meta,
    );
    assert_eq!(w.request(&request).response.next_seq, lens.len() as u32);
}

#[test]
fn a_providers_appends_fit_the_compute_it_asks_for() {
    let mut w = World::new(100);
    let (operator, tree, request) = w.ready_request(offer(1_000, 2_000), 1_000_000_000, 10_000);

    // A filled append: one chunk as long as a priced legacy transaction holds.
    let room = PRICED_LEGACY
        .room_for_chunk(&[], Some(tree))
        .expect("a chunk fits");
    let filled = vec![chunk(0, room, false)];
    let root = root_of(&request, &filled);
    let mut instructions = priced_budget(1);
    instructions.push(append_ix(&operator, &request, &tree, root, filled));
    let meta = assert_ok(w.h.send(&instructions, &operator, &[]));
    let filled_cu = measured(&format!("append_batch, 1 chunk of {room} B"), &meta);

    // The final append, as long as the packer seals one, with the completion beside it.
    let last = vec![chunk(1, room - COMPLETION_BYTES, true)];
    let root = root_of(&request, &last);
    let mut before = priced_budget(1);
    before.push(append_ix(&operator, &request, &tree, root, last));
    let meta = assert_ok(w.complete_after(&operator, &request, before));
    let final_cu = measured(
        &format!(
            "append_batch (final, {} B) + complete_request",
            room - COMPLETION_BYTES
        ),
        &meta,
    );

    // The limit is paid for whether used or not: a margin, not a multiple.
    let most = filled_cu.max(final_cu);
    let margin = u64::from(APPEND_COMPUTE_UNITS) * 100 / most;
    println!(
        "the provider asks for {APPEND_COMPUTE_UNITS} CU an append: {margin}% of the most measured"
    );
    assert!(
        margin <= 150,
        "{APPEND_COMPUTE_UNITS} CU is {margin}% of {most}"
    );
}

/// The most compute a transaction gets per instruction without a `SetComputeUnitLimit`.
const DEFAULT_INSTRUCTION_UNITS: u64 = 200_000;

#[test]
fn a_requests_life_fits_the_default_compute_of_each_instruction() {
    let mut w = World::new(100);
    let operator = w.wallet();
    let registered = assert_ok(w.register(&operator, server_params(vec![offer(1_000, 2_000)], 2)));
    let tree =
        w.h.create_tree(&operator, DEPTH, BUFFER)
            .expect("create_tree");
    let client = w.wallet();
    let created = assert_ok(w.create_request_with_nonce(&client, 0, 10_000_000, terms()));
    let request = request_address(&client.pubkey(), 0);
    let locked = assert_ok(w.lock(&operator, &request, &tree));
    let prompted = assert_ok(w.prompt(&client, &request, vec![1; 600], true));
    let appended = assert_ok(w.append(&operator, &request, chunks(0, 4, 10, true)));
    let completed = assert_ok(w.complete(&operator, &request));
    let flagged = assert_ok(w.flag(&client, &request));
    w.h.advance(3_601); // past the flag window
    let closed = assert_ok(w.close(&client, &request));

    let unanswered = w
        .create_request(&client, 10_000_000, terms())
        .expect("create_request");
    let cancelled = assert_ok(w.cancel(&client, &unanswered));
    let unlocked = w
        .create_request(&client, 10_000_000, terms())
        .expect("create_request");
    w.h.advance(3_601); // past the lock window
    let expired = assert_ok(w.expire(&client, &unlocked));

    for (what, meta) in [
        ("register_server", &registered),
        ("create_request", &created),
        ("lock_request", &locked),
        ("submit_prompt (600 B)", &prompted),
        ("append_batch (4 chunks, final)", &appended),
        ("complete_request", &completed),
        ("flag_response", &flagged),
        ("close_request (Light receipt)", &closed),
        ("cancel_request", &cancelled),
        ("expire_request (open, past its lock window)", &expired),
    ] {
        let units = measured(what, meta);
        assert!(units < DEFAULT_INSTRUCTION_UNITS, "{what}: {units} CU");
    }
}

#[test]
fn a_direct_settlement_fits_the_compute_it_asks_for() {
    use crate::direct::{ack_of, claim, signed};
    use chainference_prover::core::ResponseCursor;

    let mut w = World::new(100);
    let (operator, tree, client, request) = w.ready_direct();

    // A batch's root alone, as the provider posts one once the client acknowledged it.
    let mut cursor = ResponseCursor::new();
    let first = claim(&request, &mut cursor, &chunks(0, 3, 10, false));
    let mut instructions = priced_budget(1);
    instructions.push(chainference_client_core::instructions::append_root(
        &operator.pubkey(),
        &request,
        &tree,
        &first,
    ));
    let meta = assert_ok(w.h.send(&instructions, &operator, &[]));
    measured("append_root", &meta);

    // The settlement: the roots of the two batches acknowledged since (not on chain yet), the
    // acknowledgement and the completion in one transaction, with the budget the provider
    // asks for it: one append's for each root and one for the completion.
    let second = claim(&request, &mut cursor, &chunks(3, 2, 10, false));
    let last = claim(&request, &mut cursor, &chunks(5, 2, 10, true));
    let roots = [second, last];
    let mut before = priced_budget(roots.len() as u32 + 1);
    for root in &roots {
        before.push(chainference_client_core::instructions::append_root(
            &operator.pubkey(),
            &request,
            &tree,
            root,
        ));
    }
    before.push(signed(&w.scope(&request), &client, &ack_of(&cursor)));
    let meta = assert_ok(w.complete_after(&operator, &request, before));
    measured(
        "2 × append_root + acknowledgement + complete_request (direct settlement)",
        &meta,
    );
}
