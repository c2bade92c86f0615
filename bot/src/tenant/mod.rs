//! The other end of the tag: tenant repositories, how they pin the platform ([`pins`]), and
//! whether their own manifests are ready for the Kubernetes minor a pin moves to
//! ([`readiness`], with the lossless API conversions in [`convert`]).
//!
//! Everything here works on files already read from a tenant repository (a checkout in a
//! temporary directory); cloning, GitHub and the PRs are `jobs::tenants`.

pub mod convert;
pub mod pins;
pub mod readiness;
