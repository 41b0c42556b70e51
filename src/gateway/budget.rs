//! Spend control for `chainference serve`: a budget for the server's life and a most per call,
//! both checked before any transaction. A call reserves its whole stake (the most its answer
//! can cost) while it runs and keeps only its bill once settled, so calls at once can never
//! together spend past the budget.

use std::sync::{Arc, Mutex, PoisonError};

/// Why a call may not spend its stake.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The stake is above the most a call may cost.
    #[error("this call may cost up to {stake} lamports, above --max-cost ({max_cost} lamports): ask for fewer max_tokens, or raise --max-cost")]
    AboveMaxCost {
        /// The call's stake.
        stake: u64,
        /// The most per call.
        max_cost: u64,
    },
    /// The stake does not fit in what is left of the budget.
    #[error("this call may cost up to {stake} lamports and {left} of the --budget's {budget} are left (calls in flight hold their stakes until they settle): ask for fewer max_tokens, wait for calls in flight, or restart with a larger --budget")]
    OverBudget {
        /// The call's stake.
        stake: u64,
        /// What is left.
        left: u64,
        /// The whole budget.
        budget: u64,
    },
}

/// The server's spending: settled bills and the stakes of calls in flight.
#[derive(Debug)]
pub struct Budget {
    /// The most all calls may spend (`None`: no limit).
    budget: Option<u64>,
    /// The most one call may cost (`None`: no limit).
    max_cost: Option<u64>,
    /// Settled bills plus reserved stakes.
    committed: Mutex<u64>,
}

/// A call's stake, reserved; settle it with its bill, or drop it to release it whole (the call
/// created no request).
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    stake: u64,
    settled: bool,
}

impl Budget {
    /// A budget of `budget` lamports in all and `max_cost` a call.
    pub fn new(budget: Option<u64>, max_cost: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            budget,
            max_cost,
            committed: Mutex::new(0),
        })
    }

    /// Lamports spent by settled calls and held by calls in flight.
    pub fn committed(&self) -> u64 {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves `stake` for one call, or refuses it.
    pub fn reserve(self: &Arc<Self>, stake: u64) -> Result<Reservation, Refused> {
        if let Some(max_cost) = self.max_cost {
            if stake > max_cost {
                return Err(Refused::AboveMaxCost { stake, max_cost });
            }
        }
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = self.budget {
            let left = budget.saturating_sub(*committed);
            if stake > left {
                return Err(Refused::OverBudget {
                    stake,
                    left,
                    budget,
                });
            }
        }
        *committed = committed.saturating_add(stake);
        Ok(Reservation {
            budget: self.clone(),
            stake,
            settled: false,
        })
    }

    /// Gives back `amount` of what was committed.
    fn release(&self, amount: u64) {
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *committed = committed.saturating_sub(amount);
    }
}

impl Reservation {
    /// The call settled with `bill` (at most the stake: the program refunds the rest).
    pub fn settle(mut self, bill: u64) {
        self.settled = true;
        self.budget.release(self.stake - bill.min(self.stake));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.budget.release(self.stake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_call_above_the_most_per_call_or_the_budget_left_is_refused() {
        let budget = Budget::new(Some(1_000), Some(600));
        assert_eq!(
            budget.reserve(601).expect_err("above"),
            Refused::AboveMaxCost {
                stake: 601,
                max_cost: 600
            }
        );
        let first = budget.reserve(600).expect("fits");
        assert_eq!(
            budget.reserve(500).expect_err("over"),
            Refused::OverBudget {
                stake: 500,
                left: 400,
                budget: 1_000
            }
        );
        first.settle(100);
        assert_eq!(budget.committed(), 100);
        budget
            .reserve(500)
            .expect("fits once the first settled")
            .settle(500);
        assert_eq!(budget.committed(), 600);
    }

    proptest! {
        /// Whatever calls reserve, settle or abandon, in any order, what is committed never
        /// exceeds the budget and ends as the sum of the settled bills.
        #[test]
        fn committed_stays_within_the_budget_and_ends_as_the_bills(
            budget in 0u64..10_000,
            calls in proptest::collection::vec((0u64..4_000, 0u64..5_000, any::<bool>()), 0..40),
        ) {
            let spending = Budget::new(Some(budget), None);
            let mut open = Vec::new();
            let mut bills = 0u64;
            for (stake, bill, settles) in calls {
                if let Ok(reservation) = spending.reserve(stake) {
                    open.push((reservation, bill, settles));
                }
                prop_assert!(spending.committed() <= budget);
                if open.len() > 3 {
                    let (reservation, bill, settles) = open.remove(0);
                    if settles {
                        bills += bill.min(reservation.stake);
                        reservation.settle(bill);
                    }
                }
            }
            for (reservation, bill, settles) in open {
                if settles {
                    bills += bill.min(reservation.stake);
                    reservation.settle(bill);
                }
            }
            prop_assert_eq!(spending.committed(), bills);
        }
    }
}
