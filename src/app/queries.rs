//! ZStack query conditions (`name=foo`, `size>100`) and limits, as the Query calls take them.

use imghash_store::Condition;

use super::error::ApiError;

/// A Query call: conditions in ZStack's form, and an optional limit (0: none).
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// `field op value` strings.
    pub conditions: Vec<String>,
    /// At most this many results; 0 means no limit.
    pub limit: u32,
}

impl Query {
    /// The parsed conditions (SYS.1007 for a malformed one) and the limit.
    pub fn parse(&self) -> Result<(Vec<Condition>, Option<u32>), ApiError> {
        let conditions = self
            .conditions
            .iter()
            .map(|c| Condition::parse(c).map_err(ApiError::from))
            .collect::<Result<_, _>>()?;
        Ok((conditions, (self.limit > 0).then_some(self.limit)))
    }
}
