//! AWS plumbing shared by every outbound AWS call (Bedrock, later S3 and X-Ray): credentials,
//! SigV4 signing, region and endpoint resolution. A leaf: it knows nothing of agents.
//! WORK IN PROGRESS: only SigV4, static/env credentials, region (env) and endpoints so far.

pub mod credentials;
pub mod endpoint;
pub mod region;
pub mod sigv4;

pub use credentials::{
    Credentials, CredentialsError, DefaultCredentialsChain, ProvideCredentials, StaticCredentials,
};
pub use endpoint::service_endpoint;
pub use region::{RegionError, resolve_region};
pub use sigv4::{SignableRequest, sign};
