//! A stateful fake of the part of GitHub ake-bot uses, served over HTTP on 127.0.0.1 for the
//! real octocrab client, and held to GitHub's own REST description (`openapi`).

pub mod openapi;
pub mod server;
pub mod world;

pub use server::FakeGitHubServer;
pub use world::{Comment, FakeGitHub, Fault, Pull, Recorded};
