//! [`AwsSigner`]: the [`SignRequest`] the binary uses, over any `crate::aws` credential provider
//! and `crate::aws::sign`.

use std::sync::Arc;
use std::time::SystemTime;

use super::SignRequest;
use crate::aws::{ProvideCredentials, SignableRequest};

/// Signs each request with the provider's current credentials. The provider caches and
/// refreshes them; asking per call is what lets a server start before credentials exist (an
/// invocation then fails naming the providers tried) and pick up rotated ones without a restart.
#[derive(Debug, Clone)]
pub struct AwsSigner {
    credentials: Arc<dyn ProvideCredentials>,
}

impl AwsSigner {
    /// A signer over `credentials` (e.g. `crate::aws::DefaultCredentialsChain`).
    pub fn new(credentials: Arc<dyn ProvideCredentials>) -> Self {
        AwsSigner { credentials }
    }
}

impl SignRequest for AwsSigner {
    fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        region: &str,
        service: &str,
        now: SystemTime,
    ) -> Result<Vec<(&'static str, String)>, String> {
        // CredentialsError's text names the providers and why each failed, never a secret.
        let credentials = self.credentials.credentials().map_err(|e| e.to_string())?;
        let request = SignableRequest {
            method: "POST",
            url,
            headers,
            body,
        };
        Ok(crate::aws::sign(&request, &credentials, region, service, now))
    }

    fn invalidate(&self) {
        self.credentials.invalidate();
    }
}
