//! Policy rules and the decision engine used by bd-policy.
