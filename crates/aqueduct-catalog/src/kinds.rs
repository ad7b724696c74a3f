//! The connector kinds. (Being written.)

use crate::ConnectorSpec;

/// Every kind.
pub(crate) static ALL: &[ConnectorSpec] = &[];
