//! Partitions: the unit of tenancy (DESIGN.md §3).
//!
//! The default partition is the clinic's and is served at `/fhir`; every payer has its own,
//! served at `/payer/{payerId}/fhir`, holding its members, coverage and claims. Ids are unique
//! per partition, never across them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Partition {
    Default,
    Payer(String),
}

impl Partition {
    /// The path of this partition's FHIR base below the server root.
    pub fn base_path(&self) -> String {
        match self {
            Partition::Default => "/fhir".to_string(),
            Partition::Payer(id) => format!("/payer/{id}/fhir"),
        }
    }

    /// A stable key for stores that keep partitions in one table (empty for the default one,
    /// which no payer id can be, since FHIR ids are never empty).
    pub fn key(&self) -> &str {
        match self {
            Partition::Default => "",
            Partition::Payer(id) => id,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Default => f.write_str("default"),
            Partition::Payer(id) => write!(f, "payer {id}"),
        }
    }
}
