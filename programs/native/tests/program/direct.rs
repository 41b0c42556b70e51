//! Direct delivery on the runtime: roots only on chain, each checked against the answer's
//! rules, and a bill that stops at the client's acknowledgement, verified by the ed25519
//! precompile and found by the program in the instructions sysvar.

use crate::common::*;
use chainference::error::ChainferenceError;
use chainference::state::{Delivery, RequestState};
use chainference_client_core::instructions::acknowledgement;
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_prover::core::{
    Acknowledgement, ResponseCursor, RootClaim, Scope, MAX_BATCH_CHUNKS, MAX_DIRECT_BATCH_CHUNKS,
};

/// The claim of `chunks` continuing `cursor`, which it advances.
pub fn claim(
    request: &Pubkey,
    cursor: &mut ResponseCursor,
    chunks: &[chainference::events::Chunk],
) -> RootClaim {
    let before = *cursor;
    let views: Vec<_> = chunks.iter().map(|chunk| chunk.as_ref()).collect();
    let applied = cursor
        .apply_direct(&request.to_bytes(), 1_000_000, &views)
        .expect("the chunks continue the answer");
    RootClaim::between(&before, cursor, applied.root)
}

/// `signer`'s acknowledgement of `ack` in `scope`, as the precompile's instruction.
pub fn signed(scope: &Scope, signer: &Keypair, ack: &Acknowledgement) -> Instruction {
    let signature = signer.sign_message(&ack.message(scope)).into();
    acknowledgement(scope, &signer.pubkey(), ack, &signature)
}

/// The acknowledgement of everything up to `cursor`.
pub fn ack_of(cursor: &ResponseCursor) -> Acknowledgement {
    Acknowledgement {
        next_seq: cursor.next_seq,
        tokens: cursor.tokens,
        chain: cursor.chain,
    }
}

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;

#[test]
fn roots_go_on_chain_and_the_bill_stops_at_the_acknowledgement() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let mut direct = terms();
    direct.delivery = Delivery::Direct;
    let stake = 10_000_000;
    let request = w.create_request(&client, stake, direct).expect("create");
    assert_refused(
        w.lock(&operator, &request, &tree),
        ChainferenceError::NoEndpoint,
    );
    w.give_endpoint(&operator);
    w.ready(&client, &operator, &tree, &request);

    // Chunks themselves are refused; roots of the answer's batches are taken.
    assert_refused(
        w.append(&operator, &request, chunks(0, 1, 10, false)),
        ChainferenceError::NotChainDelivery,
    );
    let mut cursor = ResponseCursor::new();
    let first = claim(&request, &mut cursor, &chunks(0, 3, 10, false));
    let after_first = cursor;
    let (_, leaves_before) = w.tree_state(&tree);
    assert_ok(w.append_root(&operator, &request, &first));
    assert_eq!(
        w.tree_state(&tree).1,
        leaves_before + 1,
        "the leaf went into the tree"
    );
    // The same batch again is out of sequence.
    assert_refused(
        w.append_root(&operator, &request, &first),
        ChainferenceError::SequenceMismatch,
    );
    let posted = w.request(&request).response;
    assert_eq!(
        posted.cursor(),
        cursor,
        "the program's state is the client's own"
    );
    let mut ahead = cursor;
    let second = claim(&request, &mut ahead, &chunks(3, 2, 10, true));

    // Roots posted and no acknowledgement, another signer's, more than posted, a batch not
    // posted yet, the posted answer with another chain, one from another program or cluster:
    // each refused by name.
    assert_refused(
        w.complete(&operator, &request),
        ChainferenceError::AcknowledgementMissing,
    );
    let full = ack_of(&after_first);
    let stranger = w.wallet();
    assert_refused(
        w.complete_after(
            &operator,
            &request,
            vec![signed(&w.scope(&request), &stranger, &full)],
        ),
        ChainferenceError::AcknowledgementInvalid,
    );
    let inflated = Acknowledgement {
        tokens: full.tokens + 1,
        ..full
    };
    let forked = Acknowledgement {
        chain: [3; 32],
        ..full
    };
    for wrong in [inflated, ack_of(&ahead), forked] {
        assert_refused(
            w.complete_after(
                &operator,
                &request,
                vec![signed(&w.scope(&request), &client, &wrong)],
            ),
            ChainferenceError::AcknowledgementMismatch,
        );
    }
    let elsewhere = [
        Scope {
            program: [9; 32],
            ..w.scope(&request)
        },
        Scope {
            cluster: [9; 32],
            ..w.scope(&request)
        },
    ];
    for scope in elsewhere {
        assert_refused(
            w.complete_after(&operator, &request, vec![signed(&scope, &client, &full)]),
            ChainferenceError::AcknowledgementInvalid,
        );
    }
    // A signature that does not verify never reaches the program.
    let mut forged = signed(&w.scope(&request), &client, &full);
    let signature_at = 16 + 32;
    forged.data[signature_at] ^= 1;
    let sent = w.complete_after(&operator, &request, vec![forged]);
    assert!(sent.is_err(), "a forged acknowledgement was accepted");
    assert_eq!(w.request(&request).state, RequestState::Ready);

    // The second root goes on chain: an acknowledgement of the first batch alone no longer
    // names what the roots commit to.
    assert_ok(w.append_root(&operator, &request, &second));
    assert_refused(
        w.complete_after(
            &operator,
            &request,
            vec![signed(&w.scope(&request), &client, &full)],
        ),
        ChainferenceError::AcknowledgementMismatch,
    );

    // The client acknowledged both batches: their 50 tokens are billed.
    let client_before = w.h.lamports(&client.pubkey());
    let operator_before = w.h.lamports(&operator.pubkey());
    let bond = w.request(&request).lock.bond;
    assert_ok(w.complete_after(
        &operator,
        &request,
        vec![signed(&w.scope(&request), &client, &ack_of(&ahead))],
    ));
    let settled = w.request(&request);
    assert_eq!(settled.state, RequestState::Completed);
    assert_eq!(settled.settlement.tokens, 50);
    let bill = (100 * 1_000_000 + 50 * 2_000_000) / 1_000_000;
    assert_eq!(settled.settlement.bill, bill);
    assert_eq!(w.h.lamports(&client.pubkey()), client_before + stake - bill);
    // The operator paid this transaction's fee: its own signature and the precompile's.
    assert_eq!(
        w.h.lamports(&operator.pubkey()),
        operator_before + bill + bond - 2 * 5_000
    );
    assert_eq!(w.server_of(&operator.pubkey()).reputation.tokens_served, 50);
}

#[test]
fn the_server_completes_on_the_last_acknowledgement_when_the_client_stops() {
    let mut w = World::new(0);
    let (operator, tree, client, request) = w.ready_direct();
    // The client acknowledged the first batch and went silent on the second: the server posts
    // the first batch's root alone and completes on it, bond back, no failure.
    let mut cursor = ResponseCursor::new();
    let first = claim(&request, &mut cursor, &chunks(0, 3, 10, false));
    let append = chainference_client_core::instructions::append_root(
        &operator.pubkey(),
        &request,
        &tree,
        &first,
    );
    let operator_before = w.h.lamports(&operator.pubkey());
    let bond = w.request(&request).lock.bond;
    assert_ok(w.complete_after(
        &operator,
        &request,
        vec![
            append,
            signed(&w.scope(&request), &client, &ack_of(&cursor)),
        ],
    ));
    let settled = w.request(&request);
    assert_eq!(
        (settled.settlement.tokens, settled.settlement.bill),
        (30, 160)
    );
    assert_eq!(
        w.h.lamports(&operator.pubkey()),
        operator_before + 160 + bond - 2 * 5_000
    );
    let record = w.server_of(&operator.pubkey()).reputation;
    assert_eq!((record.completed, record.failures), (1, 0));
}

#[test]
fn a_whole_acknowledgement_bills_every_posted_token_and_chain_requests_take_no_roots() {
    let mut w = World::new(0);
    let (operator, tree, client, request) = w.ready_direct();
    let mut cursor = ResponseCursor::new();
    let only = claim(&request, &mut cursor, &chunks(0, 4, 25, true));
    // The last root and the completion share one transaction.
    let append = chainference_client_core::instructions::append_root(
        &operator.pubkey(),
        &request,
        &tree,
        &only,
    );
    assert_ok(w.complete_after(
        &operator,
        &request,
        vec![
            append,
            signed(&w.scope(&request), &client, &ack_of(&cursor)),
        ],
    ));
    let settled = w.request(&request);
    assert_eq!(
        (settled.settlement.tokens, settled.settlement.bill),
        (100, 300)
    );

    let on_chain = w
        .create_request(&client, 10_000_000, terms())
        .expect("create");
    w.ready(&client, &operator, &tree, &on_chain);
    let mut cursor = ResponseCursor::new();
    let root = claim(&on_chain, &mut cursor, &chunks(0, 1, 10, true));
    assert_refused(
        w.append_root(&operator, &on_chain, &root),
        ChainferenceError::NotDirectDelivery,
    );
}

#[test]
fn a_root_may_claim_a_direct_batch_of_up_to_its_most_chunks() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let mut direct = terms();
    direct.delivery = Delivery::Direct;
    direct.max_output_tokens = 100_000;
    let request = w
        .create_request(&client, 10_000_000, direct)
        .expect("create");
    w.give_endpoint(&operator);
    w.ready(&client, &operator, &tree, &request);
    // More chunks than a batch on chain holds, as a direct answer sends a token a chunk.
    let mut cursor = ResponseCursor::new();
    let full = claim(
        &request,
        &mut cursor,
        &chunks(0, MAX_DIRECT_BATCH_CHUNKS as u32, 1, false),
    );
    assert!(full.count as usize > MAX_BATCH_CHUNKS);
    let over = RootClaim {
        first_seq: cursor.next_seq,
        count: MAX_DIRECT_BATCH_CHUNKS as u32 + 1,
        ..full
    };
    assert_ok(w.append_root(&operator, &request, &full));
    assert_refused(
        w.append_root(&operator, &request, &over),
        ChainferenceError::BatchTooLarge,
    );
    assert_eq!(w.request(&request).response.cursor(), cursor);
}
