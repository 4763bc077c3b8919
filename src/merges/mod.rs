//! Duplicates and merges (design §6): proposing pairs found by the matcher, the declarative
//! survivorship rules, and applying approved merges through the HubSpot and Gorgias merge
//! APIs, with links and aliases following the survivor. See `docs/merges.md`.
//!
//! `survivorship` and `record` are pure; `propose` and `apply` are the shell over the store
//! and the connectors. Must never hold matching logic (that is `crate::matcher`) nor SQL.

pub mod apply;
pub mod merged;
pub mod propose;
pub mod record;
pub mod scan;
pub mod survivorship;

pub use apply::{Applied, ApplyOutcome, Connectors, Merger};
pub use propose::{
    Found, PreviewAction, PreviewItem, ProposalSettings, ProposeReport, find, preview, propose,
    propose_where,
};
pub use record::MergeRecord;
pub use survivorship::{
    Choices, MergePlan, SurvivorRule, Survivorship, SurvivorshipError, ValueRule, Why,
};

use crate::connectors::gorgias::GorgiasError;
use crate::connectors::hubspot::HubspotError;
use crate::store::StoreError;

/// What can stop proposing or applying merges (a refused merge is not an error: it is an
/// [`ApplyOutcome::Failed`] with its reason).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merge bookkeeping: {0}")]
    Store(#[from] StoreError),
    #[error("HubSpot: {0}")]
    Hubspot(#[from] HubspotError),
    #[error("Gorgias: {0}")]
    Gorgias(#[from] GorgiasError),
    #[error("no proposal #{0}")]
    NoSuchProposal(i64),
    #[error("proposal #{id} is {status}, not pending")]
    NotPending { id: i64, status: String },
    #[error("proposal #{id}: {why}")]
    BadChoice { id: i64, why: String },
}
