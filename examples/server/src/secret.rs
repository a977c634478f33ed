//! Secrets in request and response bodies: a private key or client secret on its way
//! in, an API key or SCIM token shown once on its way out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Secret text in a JSON body. Serialized and deserialized as the plain string (the
/// wire needs it), but its `Debug` is redacted and it has no equality, so a body that
/// holds one can be logged or traced without leaking it. Read it with
/// [`SecretText::secret`].
#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    /// Wrap secret text.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretText(secret.into())
    }

    /// The clear text. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_has_the_text_and_debug_does_not() {
        let secret: SecretText = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(secret.secret(), "hunter2");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"hunter2\"");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
