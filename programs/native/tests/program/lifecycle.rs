//! One request's whole life, every balance checked to the lamport and the tree checked against
//! an off-chain reference tree fed the same leaves.

use crate::common::*;
use anchor_lang::Space;
use chainference::state::*;
use chainference_client_core::stream::chunk_batches;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::{treasury_address, FEE_PER_SIGNATURE as SIG};
use chainference_prover::change_log::{parse_change_log, ChangeLog};
use chainference_prover::core::{batch_leaf, extend_chain, root_from_proof, EMPTY_CHAIN};
use chainference_prover::tree::TreeMirror;

#[test]
fn a_request_from_registration_to_close_balances_to_the_lamport() {
    const FEE_BPS: u16 = 500;
    let mut w = World::new(FEE_BPS);
    let rent = |w: &World, len: usize| w.h.svm.minimum_balance_for_rent_exemption(len);

    // Register the server, then its tree.
    let operator = w.wallet();
    let (input_price, output_price) = (2_000_000, 5_000_000); // 2 and 5 lamports a token
    assert_ok(w.register(
        &operator,
        server_params(vec![offer(input_price, output_price)], 4),
    ));
    let server_rent = rent(&w, 8 + Server::INIT_SPACE);
    assert_eq!(w.h.lamports(&operator.pubkey()), WALLET - server_rent - SIG);
    let tree =
        w.h.create_tree(&operator, DEPTH, BUFFER)
            .expect("create_tree");
    let tree_rent = w.h.lamports(&tree);
    assert_eq!(
        tree_rent,
        rent(
            &w,
            chainference::compression::tree_account_len(DEPTH, BUFFER)
        )
    );
    let mut operator_balance = WALLET - server_rent - SIG - tree_rent - 2 * SIG;
    assert_eq!(w.h.lamports(&operator.pubkey()), operator_balance);
    assert_eq!(w.server_of(&operator.pubkey()).trees, vec![tree]);
    let (root, leaves) = w.tree_state(&tree);
    let mut reference = reference_tree();
    assert_eq!((root, leaves), (reference.get_root(), 0));

    // The client opens a request.
    let client = w.wallet();
    let stake = 1_000_000;
    let mut request_terms = terms();
    request_terms.prompt_tokens = 1_000;
    request_terms.max_output_tokens = 5_000;
    let request = w
        .create_request(&client, stake, request_terms)
        .expect("create_request");
    let request_rent = rent(&w, 8 + Request::INIT_SPACE);
    let counter_rent = rent(&w, 8 + Client::INIT_SPACE);
    let mut client_balance = WALLET - counter_rent - request_rent - stake - SIG;
    assert_eq!(w.h.lamports(&client.pubkey()), client_balance);
    assert_eq!(w.h.lamports(&request), request_rent + stake);
    let opened = w.request(&request);
    assert_eq!(
        (opened.state, opened.stake, opened.rent),
        (RequestState::Open, stake, request_rent)
    );
    assert_eq!(w.next_nonce(&client.pubkey()), 1);

    // The server locks it with a bond of 10 % of the stake; the operator's signature of its
    // key (the ed25519 precompile) is charged as a second signature.
    assert_ok(w.lock(&operator, &request, &tree));
    let bond = stake / 10;
    operator_balance -= bond + 2 * SIG;
    assert_eq!(w.h.lamports(&operator.pubkey()), operator_balance);
    assert_eq!(w.h.lamports(&request), request_rent + stake + bond);
    let locked = w.request(&request);
    assert_eq!(locked.state, RequestState::Locked);
    assert_eq!(
        (locked.lock.bond, locked.lock.fee_bps, locked.lock.tree),
        (bond, FEE_BPS, tree)
    );
    assert_eq!(w.server_of(&operator.pubkey()).active_locks, 1);

    // The client seals its prompt in two chunks.
    assert_ok(w.prompt(&client, &request, vec![1; 700], false));
    assert_eq!(w.request(&request).state, RequestState::Locked);
    assert_ok(w.prompt(&client, &request, vec![2; 300], true));
    client_balance -= 2 * SIG;
    let ready = w.request(&request);
    assert_eq!(
        (ready.state, ready.prompt.bytes),
        (RequestState::Ready, 1_000)
    );

    // Three batches; after each the tree equals the reference tree and the event carries the chunks.
    let batches = [
        chunks(0, 3, 40, false),
        chunks(3, 1, 25, false),
        chunks(4, 2, 30, true),
    ];
    let mut chain = EMPTY_CHAIN;
    let mut mirror = TreeMirror::new(DEPTH as usize);
    for (index, batch) in batches.iter().enumerate() {
        let first_seq = batch[0].seq;
        let meta = assert_ok(w.append(&operator, &request, batch.clone()));
        operator_balance -= SIG;
        let leaf = batch_leaf(
            &request.to_bytes(),
            first_seq,
            batch.len() as u32,
            &root_of(&request, batch),
        );
        reference
            .append(leaf)
            .expect("the reference tree takes the leaf");
        chain = extend_chain(&chain, &leaf);
        assert_eq!(
            w.tree_state(&tree),
            (reference.get_root(), index as u64 + 1)
        );
        let events = chunk_batches(&meta.logs, &chainference::ID);
        assert_eq!(
            events.len(),
            1,
            "one ChunkBatch per append: {:#?}",
            meta.logs
        );
        let event = &events[0];
        assert_eq!(
            (event.request, event.tree, event.leaf_index, event.first_seq),
            (request, tree, index as u64, first_seq)
        );
        assert_eq!((&event.chunks, event.chain), (batch, chain));
        // spl-account-compression's change log went through spl-noop as an inner instruction:
        // its root is the reference tree's, and the event's proof proves the leaf against it,
        // equal to the reference tree's proof and to the prover's tree mirror.
        let logs: Vec<ChangeLog> = meta
            .inner_instructions
            .iter()
            .flatten()
            .filter_map(|inner| parse_change_log(&inner.instruction.data).ok())
            .collect();
        assert_eq!(logs.len(), 1, "one change log per append");
        let change_log = &logs[0];
        assert_eq!(
            (change_log.tree, change_log.leaf_index),
            (tree.to_bytes(), index as u32)
        );
        assert_eq!(
            (change_log.root(), change_log.leaf()),
            (Some(&reference.get_root()), Some(&leaf))
        );
        assert_eq!(event.proof, reference.rightmost_proof.proof.to_vec());
        assert_eq!(
            root_from_proof(&leaf, index as u32, &event.proof),
            reference.get_root()
        );
        let appended = mirror.append(leaf).expect("room in the mirror");
        assert_eq!(
            (appended.root, &appended.proof),
            (reference.get_root(), &event.proof)
        );
    }
    let answered = w.request(&request);
    assert_eq!(answered.response.tokens, 3 * 40 + 25 + 2 * 30);
    assert_eq!(
        (
            answered.response.next_seq,
            answered.response.leaves,
            answered.response.chain
        ),
        (6, 3, chain)
    );
    assert!(answered.response.finished);
    assert_eq!(w.h.lamports(&operator.pubkey()), operator_balance);

    // Completion: bill = ⌈(1,000 × 2,000,000 + 205 × 5,000,000) / 1,000,000⌉ = 3,025.
    let treasury_before = w.h.lamports(&treasury_address());
    assert_ok(w.complete(&operator, &request));
    let bill = 3_025;
    let fee = bill * u64::from(FEE_BPS) / 10_000; // 151, rounded down
    operator_balance += bill - fee + bond - SIG;
    client_balance += stake - bill;
    assert_eq!(w.h.lamports(&operator.pubkey()), operator_balance);
    assert_eq!(w.h.lamports(&client.pubkey()), client_balance);
    assert_eq!(w.h.lamports(&treasury_address()), treasury_before + fee);
    assert_eq!(w.h.lamports(&request), request_rent);
    let done = w.request(&request);
    assert_eq!(
        (done.state, done.settlement.bill, done.settlement.fee),
        (RequestState::Completed, bill, fee)
    );
    let record = w.server_of(&operator.pubkey()).reputation;
    assert_eq!(
        (
            record.completed,
            record.tokens_served,
            record.lamports_earned
        ),
        (1, 205, bill - fee)
    );
    assert_eq!(w.server_of(&operator.pubkey()).active_locks, 0);

    // The client flags the answer inside the window.
    assert_ok(w.flag(&client, &request));
    client_balance -= SIG;
    assert_eq!(w.server_of(&operator.pubkey()).reputation.flagged, 1);
    assert!(w.request(&request).flagged);

    // After the flag window anyone may close it: its receipt goes into a Light v1 state tree,
    // whose fee comes out of the rent (the closer is paid it back); the rest goes to the
    // client.
    w.h.advance(3_601);
    let closer = w.wallet();
    let state_tree = V1_STATE_TREES[0];
    let tree_before = w.h.lamports(&state_tree);
    assert_ok(w.close(&closer, &request));
    let light_fee = w.h.lamports(&state_tree) - tree_before;
    assert_eq!(light_fee, 300, "a v1 tree's rollover fee");
    client_balance += request_rent - light_fee;
    assert_eq!(w.h.lamports(&client.pubkey()), client_balance);
    assert_eq!(w.h.lamports(&request), 0);
    assert_eq!(w.h.lamports(&closer.pubkey()), WALLET - SIG);
}

#[test]
fn a_lock_keeps_the_weights_its_offer_pinned_whatever_the_server_pins_later() {
    let mut w = World::new(0);
    let operator = w.wallet();
    let pinned = offer(1_000_000, 1_000_000);
    assert_ok(w.register(&operator, server_params(vec![pinned.clone()], 4)));
    assert_eq!(
        w.server_of(&operator.pubkey()).models[0].weights_sha256,
        pinned.weights_sha256
    );
    let tree =
        w.h.create_tree(&operator, DEPTH, BUFFER)
            .expect("create_tree");
    let client = w.wallet();
    let request = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    // A lock naming other weights than the offer pins is refused.
    let scope = w.scope(&request);
    let signature = operator.sign_message(&scope.key_message(&[7; 32])).into();
    let elsewhere = chainference_client_core::instructions::lock_request(
        &operator.pubkey(),
        &scope,
        &tree,
        [7; 32],
        [0xaa; 32],
        &signature,
    );
    assert_refused(
        w.h.send(&elsewhere, &operator, &[]),
        chainference::error::ChainferenceError::WeightsNotOffered,
    );
    assert_ok(w.lock(&operator, &request, &tree));
    assert_eq!(
        w.request(&request).lock.weights_sha256,
        pinned.weights_sha256
    );

    let repinned = ModelOffer {
        weights_sha256: [0xee; 32],
        ..pinned.clone()
    };
    assert_ok(w.update_server(
        &operator,
        &operator.pubkey(),
        server_params(vec![repinned], 4),
    ));
    assert_eq!(
        w.server_of(&operator.pubkey()).models[0].weights_sha256,
        [0xee; 32]
    );
    assert_eq!(
        w.request(&request).lock.weights_sha256,
        pinned.weights_sha256
    );
}
