//! The HTTP front: everything a connection meets before it is a game session, and the routes
//! that never become one.
//!
//! It owns the TCP port ([`listener`], [`tls`]) and its limits ([`admission`]), hyper's
//! HTTP/1.1 on each connection ([`connection`]), the routes ([`http`]): the web client's files
//! ([`web_files`]), `/stats`, `/metrics`, the admin API, liveness and readiness ([`health`]),
//! and the checks of a WebSocket upgrade ([`upgrade`]: Origin by [`origin`], token by
//! [`auth`]). Who the client is behind a reverse proxy is [`proxy`]'s to say. An upgrade that
//! passes becomes a [`crate::net::session`], which the front starts and then leaves alone.

pub mod admission;
pub mod auth;
pub mod connection;
pub mod health;
pub mod http;
pub mod listener;
pub mod origin;
pub mod proxy;
pub mod tls;
pub mod upgrade;
pub mod web_files;
