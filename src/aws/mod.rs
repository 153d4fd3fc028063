//! AWS plumbing shared by every outbound AWS call (Bedrock, later S3 and X-Ray): credentials,
//! SigV4 signing, region and endpoint resolution. A leaf: it knows nothing of agents.
//! Credentials: the SDKs' default chain, cached (credentials/); region: env, profile, IMDS.

pub mod credentials;
pub mod endpoint;
pub mod region;
pub mod sigv4;
pub(crate) mod xml;

pub(crate) use credentials::describe_transport_error;
pub use credentials::{
    Credentials, CredentialsError, DefaultCredentialsChain, ProvideCredentials, StaticCredentials,
};
pub use endpoint::service_endpoint;
pub use region::{RegionError, resolve_region};
pub use sigv4::{SignableRequest, sign};
