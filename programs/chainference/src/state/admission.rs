//! Whether a server may lock a request (design §3): the one definition that `lock_request`, the
//! provider's choice of requests and the client's choice of servers all call, so none of them
//! pays for a lock the program would refuse.

use super::{Delivery, ModelOffer, Request, RequestState, RequestTerms, Server};
use crate::error::ChainferenceError;

impl Request {
    /// A request as `create_request` would open it with `terms` and `stake`, inside its lock
    /// window at time 0: what a client checks servers against before it creates one.
    pub fn proposed(terms: RequestTerms, stake: u64) -> Self {
        Self {
            client: Default::default(),
            nonce: 0,
            state: RequestState::Open,
            terms,
            stake,
            rent: 0,
            created_at: 0,
            lock_window_secs: u32::MAX,
            prompt_window_secs: 0,
            flag_window_secs: 0,
            lock: Default::default(),
            prompt: Default::default(),
            response: Default::default(),
            settlement: Default::default(),
            flagged: false,
            compared: false,
            bump: 0,
        }
    }

    /// The offer `server` would lock this request at, at unix time `now`, or the first rule it
    /// breaks: the request is open and inside its lock window, the server active, allowed,
    /// under `max_concurrent` and meeting the filters, with an endpoint for direct delivery, and
    /// it serves the model at or below the price caps and at or under the stake.
    pub fn lockable_by<'a>(
        &self,
        server: &'a Server,
        now: i64,
    ) -> Result<&'a ModelOffer, ChainferenceError> {
        let terms = &self.terms;
        let lock_deadline = self
            .created_at
            .checked_add(i64::from(self.lock_window_secs))
            .ok_or(ChainferenceError::ArithmeticOverflow)?;
        let rules = [
            (
                self.state == RequestState::Open,
                ChainferenceError::RequestNotOpen,
            ),
            (now <= lock_deadline, ChainferenceError::LockWindowClosed),
            (server.active, ChainferenceError::ServerInactive),
            (
                terms.delivery == Delivery::Chain || !server.endpoint.is_empty(),
                ChainferenceError::NoEndpoint,
            ),
            (
                terms.allowed_servers.is_empty()
                    || terms.allowed_servers.contains(&server.operator),
                ChainferenceError::ServerNotAllowed,
            ),
        ];
        first_broken(rules)?;
        let offer = server
            .offer(&terms.model)
            .ok_or(ChainferenceError::ModelNotServed)?;
        let rules = [
            (
                offer.input_price <= terms.max_input_price,
                ChainferenceError::InputPriceAboveCap,
            ),
            (
                offer.output_price <= terms.max_output_price,
                ChainferenceError::OutputPriceAboveCap,
            ),
            (
                self.stake >= offer.min_stake,
                ChainferenceError::StakeBelowServerMinimum,
            ),
            (
                server.active_locks < server.max_concurrent,
                ChainferenceError::AtMaxConcurrent,
            ),
        ];
        first_broken(rules)?;
        terms.filters.admit(&server.reputation)?;
        Ok(offer)
    }
}

/// `Err` with the error of the first rule (whether it is met, the error if not) that is not
/// met.
pub(crate) fn first_broken<const N: usize>(
    rules: [(bool, ChainferenceError); N],
) -> Result<(), ChainferenceError> {
    rules
        .into_iter()
        .find_map(|(met, broken)| (!met).then_some(broken))
        .map_or(Ok(()), Err)
}
