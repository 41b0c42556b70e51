//! Receipts: `close_request` writes each finished request into a Light v1 state tree through
//! Light's own system program and account-compression (their SBF builds, from its npm
//! package), and the client reads each back from the transaction and finds its leaf there.

use crate::common::*;
use anchor_lang::prelude::Pubkey;
use chainference::receipt::LIGHT_SYSTEM_PROGRAM;
use chainference::state::{Receipt, Request};
use chainference_client_core::receipt::{data_hash, ReceiptError};
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::FEE_PER_SIGNATURE as SIG;

/// A world with one server and `count` completed requests of one client, the first `flagged`
/// of them flagged, all past their flag windows; and the server's response tree.
fn closable(count: usize, flagged: usize) -> (World, Keypair, Vec<Pubkey>, Pubkey) {
    let mut w = World::new(500);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 4);
    let client = w.wallet();
    let requests: Vec<Pubkey> = (0..count)
        .map(|_| w.completed(&client, &operator, &tree, 1_000_000))
        .collect();
    for request in &requests[..flagged] {
        assert_ok(w.flag(&client, request));
    }
    w.h.advance(3_601);
    (w, client, requests, tree)
}

/// A state tree's account data.
fn tree_data(w: &World, tree: &Pubkey) -> Vec<u8> {
    w.h.svm
        .get_account(tree)
        .expect("the state tree exists")
        .data
}

#[test]
fn a_closed_request_leaves_a_receipt_that_is_its_leaf_in_the_state_tree() {
    let (mut w, client, requests, _) = closable(2, 1);
    let state_tree = V1_STATE_TREES[0];
    let mut leaves = Vec::new();
    for request in &requests {
        let account = w.request(request);
        let rent = w.h.lamports(request);
        let (client_before, tree_before) =
            (w.h.lamports(&client.pubkey()), w.h.lamports(&state_tree));
        let closer = w.wallet();
        let written = w.close_for_receipt(&closer, request, &state_tree);

        // What it says is what the request was.
        assert_eq!(written.receipt, Receipt::of(*request, &account));
        assert_eq!(written.tree, state_tree);
        assert_eq!(written.receipt.flagged, *request == requests[0]);
        assert_eq!(written.receipt.bill, account.settlement.bill);
        assert!(written.receipt.bill > 0 && written.receipt.fee > 0);

        // Its leaf is in the tree, and the lamports balance: the rent goes to the client less
        // Light's fee, which lands in the tree; the closer is paid it back.
        let leaf = written
            .check_in(&tree_data(&w, &state_tree))
            .expect("the receipt checks");
        let light_fee = w.h.lamports(&state_tree) - tree_before;
        assert_eq!(light_fee, 300);
        assert_eq!(
            w.h.lamports(&client.pubkey()),
            client_before + rent - light_fee
        );
        assert_eq!(w.h.lamports(&closer.pubkey()), WALLET - SIG);
        assert_eq!(w.h.lamports(request), 0);
        assert!(w.h.account::<Request>(request).is_none());
        leaves.push(leaf.leaf_index);
    }
    assert_eq!(leaves[1], leaves[0] + 1, "one leaf per close, in order");
}

#[test]
fn three_hundred_closes_in_a_row_go_into_one_v1_tree() {
    const CLOSES: usize = 300;
    let (mut w, _, requests, _) = closable(CLOSES, 0);
    let state_tree = V1_STATE_TREES[0];
    let closer = w.wallet();
    let tree_before = w.h.lamports(&state_tree);
    let mut written = Vec::with_capacity(CLOSES);
    let mut leaves = Vec::with_capacity(CLOSES);
    for request in &requests {
        let receipt = w.close_for_receipt(&closer, request, &state_tree);
        let leaf = receipt
            .check_in(&tree_data(&w, &state_tree))
            .expect("the receipt checks");
        leaves.push(leaf.leaf_index);
        written.push(receipt);
    }
    let first = leaves[0];
    let expected: Vec<u32> = (first..first + CLOSES as u32).collect();
    assert_eq!(leaves, expected, "300 leaves, one after another");
    assert_eq!(w.h.lamports(&state_tree) - tree_before, 300 * CLOSES as u64);
    assert_eq!(w.h.lamports(&closer.pubkey()), WALLET - CLOSES as u64 * SIG);
    // The oldest is still in the tree's change log after the other 299.
    let oldest = written[0]
        .check_in(&tree_data(&w, &state_tree))
        .expect("still checks");
    assert_eq!(oldest.leaf_index, first);
}

#[test]
fn an_edited_receipt_fails_its_check() {
    let (mut w, _, requests, response_tree) = closable(1, 0);
    let state_tree = V1_STATE_TREES[0];
    let closer = w.wallet();
    let written = w.close_for_receipt(&closer, &requests[0], &state_tree);
    let tree = tree_data(&w, &state_tree);
    assert!(written.check_in(&tree).is_ok());

    // A bill edited in the data no longer hashes to what the leaf commits to.
    let mut edited = written.clone();
    edited.receipt.bill += 1;
    assert_eq!(edited.check_in(&tree), Err(ReceiptError::DataAltered));

    // Edited with its data hash made to match, it is no leaf of the tree.
    let serialized = anchor_lang::prelude::borsh::to_vec(&edited.receipt).expect("serializes");
    if let Some(data) = edited.account.data.as_mut() {
        data.data_hash = data_hash(&serialized);
    }
    assert_eq!(
        edited.check_in(&tree),
        Err(ReceiptError::NotInTree(state_tree))
    );

    // Nor is the true receipt a leaf of the other v1 tree, and a response tree is no Light tree.
    let mut elsewhere = written.clone();
    elsewhere.tree = V1_STATE_TREES[1];
    assert_eq!(
        elsewhere.check_in(&tree_data(&w, &V1_STATE_TREES[1])),
        Err(ReceiptError::NotInTree(V1_STATE_TREES[1]))
    );
    assert_eq!(
        written.check_in(&tree_data(&w, &response_tree)),
        Err(ReceiptError::NotAV1Tree(state_tree))
    );
}

#[test]
fn a_close_is_refused_with_a_false_light_program_or_tree_and_nothing_moves() {
    let (mut w, client, requests, _) = closable(1, 0);
    let request = requests[0];
    let closer = w.wallet();
    let balances = |w: &World| {
        [request, client.pubkey(), V1_STATE_TREES[0]].map(|address| w.h.lamports(&address))
    };
    let before = balances(&w);

    // Another program in Light's place is refused by address.
    let mut close = chainference_client_core::instructions::close_request(
        &closer.pubkey(),
        &request,
        &client.pubkey(),
        &V1_STATE_TREES[0],
    );
    for meta in &mut close.accounts {
        if meta.pubkey == LIGHT_SYSTEM_PROGRAM {
            meta.pubkey = chainference::compression::NOOP_PROGRAM_ID;
        }
    }
    let refused = w.h.send(&[close], &closer, &[]);
    assert_eq!(
        refused
            .as_ref()
            .err()
            .and_then(chainference_native::svm::error_code),
        Some(anchor_lang::error::ErrorCode::ConstraintAddress as u32)
    );

    // A state tree that is not Light's: Light's account-compression refuses it.
    let not_a_tree = w.wallet().pubkey();
    assert!(w.close_into(&closer, &request, &not_a_tree).is_err());
    assert_eq!(
        balances(&w),
        before,
        "the request, its client and the tree are untouched"
    );
    assert!(
        w.h.account::<Request>(&request).is_some(),
        "the request is still there"
    );

    // The real tree closes it.
    w.close_for_receipt(&closer, &request, &V1_STATE_TREES[0]);
}
