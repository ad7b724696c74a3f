//! `aqueduct.yaml`: the project manifest. (Being written.)

use serde::{Deserialize, Serialize};

/// The project manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Project name.
    pub name: Option<String>,
}
